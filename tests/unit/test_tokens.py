from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.access.tokens import Claims, KeyRing, Purpose, TokenExpired, TokenInvalid, mint, verify
from tests.mutations import mutations

RING = KeyRing(current="k1", keys={"k1": b"a" * 40})
NOW = 1_800_000_000


def _mint(purpose: Purpose = Purpose.DOWNLOAD, expires: int = NOW + 60) -> str:
    return mint(RING, purpose, account_id="acme", subject="sub1", release_id="rel1", expires=expires)


def test_a_minted_token_verifies_with_its_claims() -> None:
    claims = verify(RING, _mint(), Purpose.DOWNLOAD, now=NOW)
    assert (claims.account_id, claims.subject, claims.release_id) == ("acme", "sub1", "rel1")


@pytest.mark.parametrize("other", [Purpose.UNSUBSCRIBE, Purpose.CONFIRM])
def test_a_token_never_verifies_for_another_purpose(other: Purpose) -> None:
    with pytest.raises(TokenInvalid):
        verify(RING, _mint(), other, now=NOW)


def test_an_expired_token_says_so() -> None:
    with pytest.raises(TokenExpired):
        verify(RING, _mint(expires=NOW - 1), Purpose.DOWNLOAD, now=NOW)


def test_a_tampered_payload_is_invalid() -> None:
    kid, payload, mac = _mint().split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(TokenInvalid):
        verify(RING, f"{kid}.{flipped}.{mac}", Purpose.DOWNLOAD, now=NOW)


def test_a_token_signed_with_another_key_is_invalid() -> None:
    other = KeyRing(current="k1", keys={"k1": b"b" * 40})
    with pytest.raises(TokenInvalid):
        verify(
            RING, mint(other, Purpose.DOWNLOAD, account_id="a", subject="s", expires=NOW + 5), Purpose.DOWNLOAD, now=NOW
        )


def test_tokens_of_the_previous_key_verify_while_it_is_listed() -> None:
    old = _mint()
    rotated = KeyRing(current="k2", keys={"k1": b"a" * 40, "k2": b"c" * 40})
    assert verify(rotated, old, Purpose.DOWNLOAD, now=NOW).account_id == "acme"
    with pytest.raises(TokenInvalid):
        verify(KeyRing(current="k2", keys={"k2": b"c" * 40}), old, Purpose.DOWNLOAD, now=NOW)


@pytest.mark.parametrize(
    "junk", ["", "a.b", "k1..", "x" * 5000, "k1.%%%.aaaaaaaaaaaaaaaaaaaaaa", "k1.YQ.aaaaaaaaaaaaaaaaaaaaaa"]
)
def test_junk_is_invalid(junk: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(RING, junk, Purpose.DOWNLOAD, now=NOW)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_no_mutation_of_a_valid_token_verifies(data: st.DataObject) -> None:
    token = _mint()
    mutated = data.draw(mutations(token))
    with pytest.raises(TokenInvalid):
        verify(RING, mutated, Purpose.DOWNLOAD, now=NOW)


def test_a_mac_has_one_spelling_only() -> None:
    # GIVEN the last MAC character, whose two low bits base64 does not use
    kid, payload, mac = _mint().split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = [c for c in alphabet if alphabet.index(c) >> 2 == alphabet.index(mac[-1]) >> 2 and c != mac[-1]]
    assert same_bytes
    # THEN another spelling of the same 128 bits is still refused
    for c in same_bytes:
        with pytest.raises(TokenInvalid):
            verify(RING, f"{kid}.{payload}.{mac[:-1]}{c}", Purpose.DOWNLOAD, now=NOW)


def test_a_token_or_claim_with_a_final_newline_does_not_pass_the_whole_value_patterns() -> None:
    with pytest.raises(TokenInvalid):
        verify(RING, _mint() + "\n", Purpose.DOWNLOAD, now=NOW)
    with pytest.raises(ValueError):
        mint(RING, Purpose.DOWNLOAD, account_id="acme\n", subject="sub1", expires=NOW + 60)


def test_a_token_verifies_through_its_expiry_second_and_not_after() -> None:
    token = _mint(expires=NOW)
    assert verify(RING, token, Purpose.DOWNLOAD, now=NOW).expires == NOW
    with pytest.raises(TokenExpired):
        verify(RING, token, Purpose.DOWNLOAD, now=NOW + 0.5)


def test_without_a_clock_the_current_time_decides_expiry() -> None:
    fresh = mint(RING, Purpose.DOWNLOAD, account_id="acme", subject="sub1", expires=int(time.time()) + 3600)
    assert verify(RING, fresh, Purpose.DOWNLOAD).subject == "sub1"
    stale = mint(RING, Purpose.DOWNLOAD, account_id="acme", subject="sub1", expires=int(time.time()) - 3600)
    with pytest.raises(TokenExpired):
        verify(RING, stale, Purpose.DOWNLOAD)


def test_an_expired_token_carries_its_authentic_claims() -> None:
    # a download page offers a fresh link from them: the MAC was checked before the expiry
    with pytest.raises(TokenExpired, match="^token expired$") as expired:
        verify(RING, _mint(expires=NOW - 1), Purpose.DOWNLOAD, now=NOW)
    assert expired.value.claims == Claims(Purpose.DOWNLOAD, "acme", "sub1", "rel1", NOW - 1)


@pytest.mark.parametrize("subject", ["s", "s1", "s12", "s123", "s1234", "s12345"])
def test_claims_of_every_length_come_back_whole(subject: str) -> None:
    # base64 pads a payload by its length: each of the three remainders goes through the decoder
    token = mint(RING, Purpose.DOWNLOAD, account_id="acme", subject=subject, release_id="rel1", expires=NOW)
    assert verify(RING, token, Purpose.DOWNLOAD, now=NOW) == Claims(Purpose.DOWNLOAD, "acme", subject, "rel1", NOW)


def test_a_token_minted_without_a_release_says_so_with_a_dash() -> None:
    token = mint(RING, Purpose.UNSUBSCRIBE, account_id="acme", subject="sub1", expires=NOW)
    assert verify(RING, token, Purpose.UNSUBSCRIBE, now=NOW).release_id == "-"


@pytest.mark.parametrize("junk", [None, 42, b"k1.YQ.aaaaaaaaaaaaaaaaaaaaaa", ["k1", "YQ"]])
def test_a_token_that_is_not_a_string_is_invalid(junk: object) -> None:
    with pytest.raises(TokenInvalid):
        verify(RING, junk, Purpose.DOWNLOAD, now=NOW)  # type: ignore[arg-type]


def test_mint_names_the_value_it_cannot_put_in_a_token() -> None:
    with pytest.raises(ValueError, match=r"^cannot put 'a\|b' in a token$"):
        mint(RING, Purpose.DOWNLOAD, account_id="acme", subject="a|b", expires=NOW)
