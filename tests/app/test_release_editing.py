"""Finding and fixing releases before they go out: ``GET /releases`` (filters, cursor) and ``PATCH
/releases/{id}`` (title, summary, notify_at, draft), with the schedule index moving with notify_at."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import Conflict
from chalicelib.domain.releases import publishing
from tests.app.flows import create_release, upload
from tests.conftest import auth, unique

RE = "release-engineer"


def _at(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


def _product(client: Client) -> str:
    product = unique("P")
    client.http.put(f"/products/{product}", headers=auth("support-admin"), body=json.dumps({"name": "Product"}))
    return product


def _article(client: Client, product: str, **extra: Any) -> dict[str, Any]:
    """A release without a file (a critical-solution article): available, or scheduled, at once."""
    body = {
        "product": product,
        "version": unique("v"),
        "kind": "critical-solution",
        "severity": 2,
        "title": "Article",
        "article_url": "https://kb.example/a",
        **extra,
    }
    resp = client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 201, resp.body
    return dict(json.loads(resp.body))


def _get(client: Client, release_id: str) -> dict[str, Any]:
    return dict(json.loads(client.http.get(f"/releases/{release_id}", headers=auth(RE)).body))


def _patch(client: Client, release_id: str, body: Any) -> Any:
    return client.http.request("PATCH", f"/releases/{release_id}", headers=auth(RE), body=json.dumps(body))


def _list(client: Client, query: str) -> Any:
    return client.http.get(f"/releases?{query}", headers=auth(RE))


def _due(at: str) -> list[str]:
    return wiring.get().table.due_releases(at)


# -- GET /releases -------------------------------------------------------------------------------------------
def test_the_list_finds_releases_newest_first_filtered_a_page_at_a_time(app_client: Client) -> None:
    # GIVEN three releases of a new product, one of them a draft, and one of another product
    product, other = _product(app_client), _product(app_client)
    made = [_article(app_client, product, draft=True) for _ in range(3)]
    _article(app_client, other, draft=True)
    # WHEN listing the product two at a time, following the cursor to the end
    first = _list(app_client, f"product={product}&limit=2")
    assert first.status_code == 200
    page = json.loads(first.body)
    assert len(page["items"]) == 2 and page["next"]
    items = list(page["items"])
    for _ in range(50):
        if not page["next"]:
            break
        page = json.loads(_list(app_client, f"product={product}&limit=2&cursor={page['next']}").body)
        items += page["items"]
    # THEN every release of the product, once, newest first, and the end says so
    ids = [r["id"] for r in items]
    assert sorted(ids) == sorted(r["id"] for r in made) and len(ids) == 3
    created = [r["created_at"] for r in items]
    assert created == sorted(created, reverse=True)
    assert page["next"] is None
    assert {r["product"] for r in items} == {product}


def test_the_list_filters_by_status_kind_and_time(app_client: Client) -> None:
    product = _product(app_client)
    draft = _article(app_client, product, draft=True)
    live = _article(app_client, product)  # no file, not a draft: published at once
    assert live["status"] == "published"
    published = json.loads(_list(app_client, f"product={product}&status=published").body)["items"]
    assert [r["id"] for r in published] == [live["id"]]
    kinds = json.loads(_list(app_client, f"product={product}&kind=patch").body)["items"]
    assert kinds == []
    since = json.loads(_list(app_client, f"product={product}&published_from={_at(-60)}").body)["items"]
    assert [r["id"] for r in since] == [live["id"]]
    created = json.loads(_list(app_client, f"product={product}&created_from={_at(-60)}&created_to={_at(60)}").body)
    assert {r["id"] for r in created["items"]} == {draft["id"], live["id"]}
    none = json.loads(_list(app_client, f"product={product}&created_to={_at(-3600)}").body)
    assert none == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ("cursor=not-a-cursor", "invalid_cursor", "cursor"),
        ("cursor=eyJQSyI6IHsiUyI6ICJBQ0NPVU5UI3gifX0=", "invalid_cursor", "cursor"),  # {"PK": {"S": "ACCOUNT#x"}}
        ("status=shipped", "invalid_field", "status"),
        ("created_from=yesterday", "invalid_field", "created_from"),
        ("limit=0", "invalid_field", "limit"),
        ("colour=red", "unknown_field", "colour"),
    ],
)
def test_a_bad_list_query_is_400_naming_it(app_client: Client, query: str, code: str, named: str) -> None:
    resp = _list(app_client, query)
    assert resp.status_code == 400, resp.body
    body = json.loads(resp.body)
    assert body["error"] == code and named in body["message"]


def test_customers_cannot_list_releases(app_client: Client) -> None:
    assert app_client.http.get("/releases", headers=auth("customer", unique("acct"))).status_code == 403


# -- PATCH /releases/{id} ------------------------------------------------------------------------------------
def test_a_draft_is_edited_and_scheduling_it_puts_it_on_the_schedule(app_client: Client) -> None:
    release = _article(app_client, _product(app_client), draft=True)
    at = _at(3600)
    resp = _patch(
        app_client, release["id"], {"title": "Fixed title", "summary": "Better words", "notify_at": at, "draft": False}
    )
    assert resp.status_code == 200, resp.body
    got = _get(app_client, release["id"])
    assert (got["title"], got["summary"], got["notify_at"], got["draft"]) == ("Fixed title", "Better words", at, False)
    assert got["status"] == "scheduled"
    assert release["id"] in _due(_at(3700)) and release["id"] not in _due(_at(3500))


def test_rescheduling_moves_the_schedule_entry_and_unscheduling_removes_it(app_client: Client) -> None:
    release = _article(app_client, _product(app_client), notify_at=_at(600))
    assert release["status"] == "scheduled" and release["id"] in _due(_at(700))
    # WHEN it moves to later
    later = _at(7200)
    assert _patch(app_client, release["id"], {"notify_at": later}).status_code == 200
    # THEN the schedule finds it at the new time only
    assert release["id"] not in _due(_at(700)) and release["id"] in _due(_at(7300))
    # AND a schedule tick that read the old entry does not publish it (publish checks notify_at)
    w = wiring.get()
    with pytest.raises(Conflict):
        publishing.publish(w.table, w.queues, release["id"], due_by=_at(700))
    assert _get(app_client, release["id"])["status"] == "scheduled"
    # WHEN it is unscheduled: off the schedule, available for a publish by hand
    assert _patch(app_client, release["id"], {"notify_at": None}).status_code == 200
    got = _get(app_client, release["id"])
    assert got["status"] == "available" and got["notify_at"] is None
    assert release["id"] not in _due(_at(86400))


def test_a_release_awaiting_its_upload_can_be_edited_and_verification_uses_the_edit(
    app_client: Client, runner: Any
) -> None:
    data = b"edited before upload"
    release = create_release(app_client, _product(app_client), data)
    at = _at(3600)
    assert _patch(app_client, release["id"], {"notify_at": at}).status_code == 200
    assert _get(app_client, release["id"])["status"] == "awaiting-upload"
    upload(release, data)
    runner.pump()
    got = _get(app_client, release["id"])
    assert got["status"] == "scheduled" and release["id"] in _due(_at(3700))


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"colour": "red"}, "unknown_field", "colour"),
        ({"version": "2.0"}, "unknown_field", "version"),
        ({"notify_at": "2020-01-01T00:00:00Z"}, "invalid_field", "notify_at"),
        ({"title": "Fix\r\nBcc: all@example.com"}, "invalid_field", "title"),
        ({"title": ""}, "invalid_field", "title"),
        ({"summary": "line one\r\nline two"}, "invalid_field", "summary"),
        ({"draft": "yes"}, "invalid_field", "draft"),
        ({}, "missing_field", "title"),
    ],
)
def test_a_bad_edit_is_400_naming_the_field_and_writes_nothing(
    app_client: Client, body: dict[str, Any], code: str, named: str
) -> None:
    release = _article(app_client, _product(app_client), draft=True, title="Original")
    before = _get(app_client, release["id"])
    resp = _patch(app_client, release["id"], {"title": "Would change", **body} if body else body)
    assert resp.status_code == 400, resp.body
    assert json.loads(resp.body)["error"] == code and named in json.loads(resp.body)["message"]
    assert _get(app_client, release["id"]) == before


def test_a_published_release_cannot_be_edited(app_client: Client) -> None:
    release = _article(app_client, _product(app_client))
    before = _get(app_client, release["id"])
    assert before["status"] == "published"
    resp = _patch(app_client, release["id"], {"title": "Too late"})
    assert resp.status_code == 409
    body = json.loads(resp.body)
    assert body["error"] == "not_editable" and "published" in body["message"]
    assert _get(app_client, release["id"]) == before


def test_an_edit_racing_a_publish_leaves_the_published_release_as_published(
    app_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a draft that is published between the edit's read and its write
    release = _article(app_client, _product(app_client), draft=True)
    w = wiring.get()
    real_get = type(w.table).get_release

    def get_then_publish(self: Any, release_id: str, *, consistent: bool = False) -> Any:
        got = real_get(self, release_id, consistent=consistent)
        if not consistent:
            monkeypatch.setattr(type(w.table), "get_release", real_get)
            publishing.publish(w.table, w.queues, release_id)
        return got

    monkeypatch.setattr(type(w.table), "get_release", get_then_publish)
    # WHEN the edit lands
    resp = _patch(app_client, release["id"], {"title": "Edited while publishing"})
    # THEN it is refused and the published release keeps its title
    assert resp.status_code == 409, resp.body
    got = _get(app_client, release["id"])
    assert got["status"] == "published" and got["title"] == "Article"


def test_editing_an_unknown_release_is_404(app_client: Client) -> None:
    assert _patch(app_client, "nope", {"title": "x"}).status_code == 404
