"""A download link's click on the in-memory store, answer by answer: what each refusal tells the person
(message, code, hint, button), what an entitled click hands out and audits, and what a script's info
holds. The app tests (tests/app/test_downloads.py) pin what the routes and S3 make of them, on moto."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.core.errors import Action, NotFound, PatchcastError
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.downloads import clicks as downloads
from tests.domain.host import local_time_zone, log_lines
from tests.domain.world import LINKS, account, release, store_with, subscription
from tests.memory_store import MemoryStore

PREM = account("prem1", "premium")
CONTRACT_HINT = "If you think this is wrong, ask your support administrator or Customer Success Manager."
LONG_AGO = 1_700_000_000  # 2023-11-14 22:13:20 UTC


class Blobs:
    """Records what it was asked to presign."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, str, int]] = []

    def download_url(self, key: str, *, version_id: str | None, filename: str, expires: int) -> str:
        self.asked.append((key, version_id, filename, expires))
        return f"https://s3.test/{key}"


def _token(release_id: str = "r1", *, sub: str = "s0", expires: int | None = None) -> str:
    when = int(time.time()) + 3600 if expires is None else expires
    return LINKS.download("prem1", sub, release_id, expires=when).rsplit("/", 1)[1]


def _refused(store: MemoryStore, token: str) -> tuple[int, str, str, str | None, Action | None]:
    """A refusal as the person sees it: status, code, message, hint and button."""
    with pytest.raises(PatchcastError) as refused:
        downloads.authorize(store, LINKS, token)
    err = refused.value
    return err.status, err.code, err.message, err.hint, err.action


INVALID = (
    404,
    "invalid_link",
    "This download link is not valid.",
    "Open the link straight from the email; if your mail program split it across lines, copy the whole address.",
    None,
)


def test_an_expired_link_says_when_in_utc_and_offers_to_email_a_fresh_one() -> None:
    store = store_with(PREM, subscribers=1)
    token = _token(expires=LONG_AGO)
    with local_time_zone("Asia/Tokyo"):
        refusal = _refused(store, token)
    assert refusal == (
        410,
        "link_expired",
        "This download link expired on 2023-11-14 22:13 UTC.",
        "We can email a fresh link to the address this one was sent to, if you are still entitled.",
        Action(label="Email me a fresh link", href=f"https://patchcast.test/d/{token}/renew"),
    )


def test_an_expired_link_still_names_its_grant_when_asking_for_a_fresh_one() -> None:
    store = store_with(PREM, subscribers=1)
    grant = downloads.authorize(store, LINKS, _token(expires=LONG_AGO), allow_expired=True)
    assert (grant.account_id, grant.subscription_id, grant.release.release_id) == ("prem1", "s0", "r1")


@pytest.mark.parametrize("token", ["k1.bm9wZQ.AAAAAAAAAAAAAAAAAAAAAA", "nonsense"])
def test_a_link_that_does_not_verify_is_not_valid_whether_or_not_expiry_is_allowed(token: str) -> None:
    store = store_with(PREM, subscribers=1)
    assert _refused(store, token) == INVALID
    with pytest.raises(NotFound):
        downloads.authorize(store, LINKS, token, allow_expired=True)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": ReleaseStatus.AVAILABLE},
        {"status": ReleaseStatus.SCHEDULED},
        {"object_key": None},
        {"object_key": ""},
    ],
)
def test_a_release_not_out_or_without_a_file_is_not_a_valid_link(fields: dict[str, Any]) -> None:
    assert _refused(store_with(PREM, subscribers=1, **fields), _token()) == INVALID


def test_a_link_to_an_unknown_release_is_not_valid() -> None:
    assert _refused(store_with(PREM, subscribers=1), _token("r9")) == INVALID


def test_a_link_whose_contract_is_gone_is_refused() -> None:
    store = store_with(PREM, subscribers=1)
    del store.accounts["prem1"]
    assert _refused(store, _token()) == (
        403,
        "no_contract",
        "The support contract for this link no longer exists.",
        CONTRACT_HINT,
        None,
    )


def test_a_link_whose_subscription_was_removed_says_how_to_get_links_again() -> None:
    store = store_with(PREM, subscribers=1)
    assert _refused(store, _token(sub="s7")) == (
        403,
        "subscription_removed",
        "The subscription this link was sent to has been removed.",
        "Subscribe again to M3 alerts to receive new links.",
        None,
    )


def test_a_link_the_contract_no_longer_covers_is_refused_with_the_entitlement_s_words() -> None:
    store = store_with(PREM, subscribers=1)
    store.put_account(replace(PREM, products=("XA",)))
    assert _refused(store, _token()) == (
        403,
        "product_not_in_contract",
        "Product M3 is not part of the support contract of account prem1.",
        CONTRACT_HINT,
        None,
    )


def _yanked(successor: dict[str, Any] | None = None, **fields: Any) -> MemoryStore:
    yank = {"status": ReleaseStatus.YANKED, "reason": "corrupts the ledger", **fields}
    store = store_with(PREM, subscribers=1, **yank)
    if successor is not None:
        store.create_release(release("r2", version="1.1", **successor))
    return store


def test_a_withdrawn_release_names_its_reason_and_successor_and_links_the_successor_s_download() -> None:
    # GIVEN a link that expires at a known second, to a release withdrawn in favour of r2
    expires = int(time.time()) + 600
    store = _yanked({}, superseded_by="r2", superseded_version="1.1")
    # THEN the 410 offers r2's download, for no longer than the link clicked
    successor_link = LINKS.download("prem1", "s0", "r2", expires=expires)
    assert _refused(store, _token(expires=expires)) == (
        410,
        "release_yanked",
        "This release was withdrawn: corrupts the ledger. It is superseded by M3 patch 1.1 (release r2).",
        "Do not install it; look for a newer M3 release in your alerts or ask support.",
        Action("Download version 1.1", successor_link, method="GET"),
    )


def test_a_withdrawn_release_without_reason_or_successor_says_so() -> None:
    status, code, message, _, action = _refused(_yanked(reason=None), _token())
    assert (status, code, message, action) == (
        410,
        "release_yanked",
        "This release was withdrawn: no reason given.",
        None,
    )


@pytest.mark.parametrize(
    ("successor", "why"),
    [({"channel": "beta"}, "premium has no beta"), ({"status": ReleaseStatus.YANKED}, "not out"),
     ({"object_key": None}, "no file"), (None, "not in the store")],
)  # fmt: skip
def test_a_withdrawn_release_links_no_successor_the_link_s_contract_cannot_download(
    successor: dict[str, Any] | None, why: str
) -> None:
    store = _yanked(successor, superseded_by="r2", superseded_version="1.1")
    status, _, message, _, action = _refused(store, _token())
    assert (status, action) == (410, None), why
    assert message.endswith("It is superseded by M3 patch 1.1 (release r2).")


@pytest.mark.parametrize("gone", ["account", "subscription"])
def test_a_withdrawn_release_links_no_successor_once_the_contract_or_subscription_is_gone(gone: str) -> None:
    store = _yanked({}, superseded_by="r2", superseded_version="1.1")
    if gone == "account":
        del store.accounts["prem1"]
    else:
        del store.subscriptions[("prem1", "s0")]
    status, code, _, _, action = _refused(store, _token())
    assert (status, code, action) == (410, "release_yanked", None)


def test_downloadable_needs_a_published_release_with_a_file_and_a_covering_contract() -> None:
    now = datetime.now(UTC)
    out = release()
    assert downloads.downloadable(out, PREM, now)
    assert not downloads.downloadable(replace(out, status=ReleaseStatus.YANKED), PREM, now)
    assert not downloads.downloadable(replace(out, object_key=None), PREM, now)
    assert not downloads.downloadable(out, None, now)
    assert not downloads.downloadable(out, replace(PREM, products=("XA",)), now)


def test_an_entitled_click_audits_who_clicked_and_presigns_the_verified_version_for_five_minutes() -> None:
    store, blobs = store_with(PREM, subscribers=1, object_version="v7"), Blobs()
    url = downloads.redirect_url(store, blobs, LINKS, _token(), ip="192.0.2.1", user_agent="curl/8.5")  # type: ignore[arg-type]
    assert url == "https://s3.test/uploads/r1/f.zip"
    assert blobs.asked == [("uploads/r1/f.zip", "v7", "f.zip", 300)]
    (audit,) = store.downloads
    assert {k: v for k, v in audit.items() if k != "at"} == {
        "release_id": "r1",
        "account_id": "prem1",
        "subscription_id": "s0",
        "email": "u0@prem1.example",
        "tier": "premium",
        "ip": "192.0.2.1",
        "user_agent": "curl/8.5",
    }


def test_an_entitled_click_logs_its_release_and_account(monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_with(PREM, subscribers=1)
    with log_lines(monkeypatch) as lines:
        downloads.redirect_url(store, Blobs(), LINKS, _token(), ip="192.0.2.1", user_agent="curl")  # type: ignore[arg-type]
    assert [(x["message"], x["release_id"], x["account_id"]) for x in lines] == [("download", "r1", "prem1")]


class _Recording(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.firsts: list[bool] = []

    def record_download(self, release_id: str, **kw: Any) -> None:
        self.firsts.append(kw["first"])
        super().record_download(release_id, **kw)


def test_a_repeat_click_tells_the_store_it_is_not_the_subscriber_s_first() -> None:
    # the table then skips the first click's marker, whose write would fail (a wasted transaction per click)
    store = _Recording()
    store.put_account(PREM)
    store.put_subscription(subscription(PREM, 0))
    store.create_release(release())
    for _ in range(2):
        downloads.redirect_url(store, Blobs(), LINKS, _token(), ip="192.0.2.1", user_agent="curl")  # type: ignore[arg-type]
    assert store.firsts == [True, False]


def test_a_file_without_a_name_downloads_as_download() -> None:
    store, blobs = store_with(PREM, subscribers=1, filename=None), Blobs()
    downloads.redirect_url(store, blobs, LINKS, _token(), ip="192.0.2.1", user_agent="curl")  # type: ignore[arg-type]
    assert [filename for _, _, filename, _ in blobs.asked] == ["download"]


def test_only_a_subscriber_s_first_click_counts_them_as_a_downloader() -> None:
    store, blobs = store_with(PREM, subscribers=2), Blobs()
    for sub in ("s0", "s0", "s1"):
        downloads.redirect_url(store, blobs, LINKS, _token(sub=sub), ip="192.0.2.1", user_agent="curl")  # type: ignore[arg-type]
    assert store.tally[("r1", "download")] == {"premium#downloaded": 3, "premium#downloaders": 2}


def test_a_grant_says_whether_its_subscriber_downloaded_before() -> None:
    store, blobs = store_with(PREM, subscribers=1), Blobs()
    assert not downloads.authorize(store, LINKS, _token()).downloaded_before
    downloads.redirect_url(store, blobs, LINKS, _token(), ip="192.0.2.1", user_agent="curl")  # type: ignore[arg-type]
    assert downloads.authorize(store, LINKS, _token()).downloaded_before


def test_info_describes_the_file_and_its_release_without_auditing_a_download() -> None:
    store = store_with(PREM, subscribers=1, size=1234, sha256="ab" * 32, title="Rounding fix")
    assert downloads.info(store, LINKS, _token()) == {
        "filename": "f.zip",
        "size": 1234,
        "sha256": "ab" * 32,
        "release": {"id": "r1", "product": "M3", "kind": "patch", "version": "1.0", "title": "Rounding fix"},
    }
    assert store.downloads == []
