from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.tokens import KeyRing, Purpose, TokenExpired, TokenInvalid, mint, verify
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
