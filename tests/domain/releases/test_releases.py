"""Releases on the in-memory store: publishing moves the state once and queues the first fan-out page
once, the schedule publishes what is due, and a published release can no longer be edited."""

from __future__ import annotations

import pytest

from chalicelib.domain.core.errors import Conflict
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases import editing as releases
from chalicelib.domain.releases import publishing
from tests.domain.world import ENGINEER, NAMES, PRODUCT, Queues, account, store_with


def test_an_article_is_published_at_once_and_its_fan_out_queued_once() -> None:
    store, queues = store_with(account("prem1", "premium")), Queues()
    body = {
        "product": PRODUCT,
        "version": "2.0",
        "kind": "critical-solution",
        "severity": 1,
        "title": "Do this",
        "article_url": "https://kb.example/a",
    }
    release, upload = releases.create(store, None, queues, ENGINEER, body)  # type: ignore[arg-type]
    again = publishing.publish(store, queues, release.release_id)
    assert upload is None and release.status == again.status == ReleaseStatus.PUBLISHED
    assert queues.on(NAMES.fanout_queue) == [
        {"kind": "release", "release_id": release.release_id, "page": 0, "cursor": None}
    ]


def test_the_schedule_publishes_what_is_due_and_a_published_release_cannot_be_edited() -> None:
    queues = Queues()
    store = store_with(
        account("prem1", "premium"), status=ReleaseStatus.SCHEDULED, published_at=None, notify_at="2026-01-01T00:00:00Z"
    )
    assert publishing.publish_due(store, queues, now="2026-01-01T00:00:01Z") == ["r1"]
    assert store.releases["r1"].status == ReleaseStatus.PUBLISHED and len(queues.on(NAMES.fanout_queue)) == 1
    with pytest.raises(Conflict):
        releases.edit(store, ENGINEER, "r1", {"title": "Later"})
    assert store.releases["r1"].title == "Fix"


def test_a_release_not_due_yet_stays_scheduled() -> None:
    queues = Queues()
    store = store_with(
        account("prem1", "premium"), status=ReleaseStatus.SCHEDULED, published_at=None, notify_at="2026-06-01T00:00:00Z"
    )
    assert publishing.publish_due(store, queues, now="2026-01-01T00:00:01Z") == []
    assert store.releases["r1"].status == ReleaseStatus.SCHEDULED and queues.sent == []
