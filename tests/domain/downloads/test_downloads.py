"""Downloads on the in-memory store: an entitled click is audited and counted (a downloader once), a
yanked release answers 410, a fresh link is emailed at most once per window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.domain.core.errors import Forbidden, Gone, TooManyRequests
from chalicelib.domain.core.states import ReleaseStatus, SubscriptionStatus
from chalicelib.domain.downloads import clicks as downloads
from chalicelib.domain.downloads import fresh_links
from tests.domain.world import LINKS, Mailer, account, store_with, subscription


class _Blobs:
    def download_url(self, key: str, *, version_id: str | None, filename: str, expires: int) -> str:
        return f"https://s3.test/{key}?v={version_id}"


def _token(expires_in: int = 3600) -> str:
    return LINKS.download("prem1", "s0", "r1", expires=int(time.time()) + expires_in).rsplit("/", 1)[1]


def test_an_entitled_click_is_audited_and_counts_its_downloader_once() -> None:
    store = store_with(account("prem1", "premium"), subscribers=1, object_version="v1")
    blobs: Any = _Blobs()  # the adapter (chalicelib.adapters.blobs) loads botocore: the double has its one call
    for _ in range(2):
        url = downloads.redirect_url(store, blobs, LINKS, _token(), ip="192.0.2.1", user_agent="curl")
    assert url == "https://s3.test/uploads/r1/f.zip?v=v1" and len(store.downloads) == 2
    assert store.tally[("r1", "download")] == {"premium#downloaded": 2, "premium#downloaders": 1}


def test_a_yanked_release_answers_gone_with_its_reason() -> None:
    store = store_with(account("prem1", "premium"), subscribers=1, status=ReleaseStatus.YANKED, reason="broken")
    with pytest.raises(Gone) as gone:
        downloads.authorize(store, LINKS, _token())
    assert "broken" in str(gone.value) and store.downloads == []


def test_no_fresh_link_goes_to_an_address_that_unsubscribed() -> None:
    prem = account("prem1", "premium")
    store, mailer = store_with(prem, subscribers=1), Mailer()
    store.put_subscription(subscription(prem, 0, status=SubscriptionStatus.UNSUBSCRIBED))
    with pytest.raises(Forbidden):
        fresh_links.send_fresh_link(store, mailer, LINKS, _token(-60), days=7, region="us-east-1")
    assert mailer.accepted == []


def test_a_fresh_link_is_emailed_once_per_window() -> None:
    store, mailer = store_with(account("prem1", "premium"), subscribers=1), Mailer()
    fresh_links.send_fresh_link(store, mailer, LINKS, _token(-60), days=7, region="us-east-1")
    with pytest.raises(TooManyRequests):
        fresh_links.send_fresh_link(store, mailer, LINKS, _token(-60), days=7, region="us-east-1")
    assert mailer.to() == ["u0@prem1.example"]
