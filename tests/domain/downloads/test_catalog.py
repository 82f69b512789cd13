"""The catalogue of fixes on the in-memory store: it lists only the published releases the account's tier
includes, product by product, newest first, filtered and paged; a download from it answers 404 for what the
account may not know of (a beta release its tier lacks, a release not yet published, another product's),
403 only for what its contract says it lacks, 410 for a withdrawn release."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import BadRequest, Forbidden, Gone, NotFound
from chalicelib.domain.core.models import Account, Product
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.downloads import catalog
from tests.domain.world import PRODUCT, account, release
from tests.memory_store import MemoryStore


class _Blobs:
    def download_url(self, key: str, *, version_id: str | None, filename: str, expires: int) -> str:
        return f"https://s3.test/{key}"


def _who(account_id: str) -> Identity:
    return Identity(subject="p-1", email="p@acme.example", account_id=account_id, groups=frozenset())


class _CatalogStore(MemoryStore):
    """The in-memory store plus the one read the catalogue makes that it lacks (the account, by id)."""

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)


def _store(tier: str) -> Any:
    """r1 published GA; r2 published beta; r3 scheduled GA; r4 published GA of a product not in the contract."""
    store = _CatalogStore()
    store.put_product(Product(PRODUCT, "M3 Suite"))
    store.put_account(account("acme", tier))
    store.create_release(release("r1"))
    store.create_release(release("r2", channel="beta", version="2.0-beta"))
    store.create_release(
        release(
            "r3", version="3.0", status=ReleaseStatus.SCHEDULED, published_at=None, notify_at="2099-01-01T00:00:00Z"
        )
    )
    store.create_release(release("r4", product="OTHER"))
    return store


def _download(store: Any, account_id: str, release_id: str) -> str:
    blobs: Any = _Blobs()
    return catalog.download_url(
        store, blobs, _who(account_id), release_id, ip="192.0.2.1", user_agent="t", successor_href=lambda r: r
    )


@pytest.mark.parametrize(("tier", "listed"), [("premium", ["r1"]), ("elite", ["r1", "r2"])])
def test_the_catalogue_lists_only_the_published_releases_of_the_contract_the_tier_includes(
    tier: str, listed: list[str]
) -> None:
    store = _store(tier)
    got = catalog.page(store, _who("acme"), {})
    assert sorted(i["id"] for i in got["items"]) == listed and got["next"] is None


def test_a_beta_release_the_tier_lacks_is_not_found_as_if_it_did_not_exist() -> None:
    store = _store("premium")
    with pytest.raises(NotFound) as missing:
        _download(store, "acme", "r2")
    assert missing.value.code == "not_found" and str(missing.value) == "Release r2 does not exist."
    assert store.downloads == []
    assert _download(_store("elite"), "acme", "r2") == "https://s3.test/uploads/r2/f.zip"


@pytest.mark.parametrize("release_id", ["r3", "r4", "nope", "../r1"])
def test_a_release_not_published_or_not_in_the_contract_is_not_found(release_id: str) -> None:
    store = _store("elite")
    with pytest.raises(NotFound) as missing:
        _download(store, "acme", release_id)
    assert missing.value.code == "not_found" and str(missing.value) == f"Release {release_id} does not exist."
    assert store.downloads == []


def test_a_published_release_of_the_tier_is_handed_out_and_audited_for_the_person() -> None:
    store = _store("premium")
    assert _download(store, "acme", "r1") == "https://s3.test/uploads/r1/f.zip"
    assert len(store.downloads) == 1


def test_an_ended_support_period_is_forbidden_with_its_reason() -> None:
    store = _store("premium")
    store.put_account(dataclasses.replace(store.accounts["acme"], support_end=date(2020, 1, 1)))
    with pytest.raises(Forbidden) as refused:
        _download(store, "acme", "r1")
    assert refused.value.code == "support_period_ended" and store.downloads == []
    assert "ended" in str(refused.value) and refused.value.hint == catalog._HINT
    with pytest.raises(Forbidden):
        catalog.page(store, _who("acme"), {})


# -- listing: filters, pages, items -----------------------------------------------------------------------------
def _two_products() -> Any:
    """acme (premium) holds M3 and M4: M3 has a1 (patch, severity 2) and newer a2 (update, severity 1), M4 has b1
    (patch, severity 3), the newest of all."""
    store = _CatalogStore()
    for product in ("M3", "M4"):
        store.put_product(Product(product, f"{product} Suite"))
    store.put_account(dataclasses.replace(account("acme", "premium"), products=("M4", "M3")))
    for rid, product, kind, severity, day in (("a1", "M3", "patch", 2, 1), ("a2", "M3", "update", 1, 2),
                                              ("b1", "M4", "patch", 3, 3)):  # fmt: skip
        at = f"2026-01-0{day}T00:00:00Z"
        store.create_release(
            release(
                rid, product=product, kind=kind, severity=severity, version=f"1.{day}", created_at=at, published_at=at
            )
        )
    return store


def _ids(store: Any, **params: str) -> list[str]:
    return [i["id"] for i in catalog.page(store, _who("acme"), params)["items"]]


def test_each_product_of_the_contract_is_listed_in_turn_newest_first_and_filtered() -> None:
    store = _two_products()
    assert _ids(store) == ["a2", "a1", "b1"]
    assert _ids(store, product="M4") == ["b1"] and _ids(store, product="M3", kind="patch") == ["a1"]
    assert _ids(store, kind="update") == ["a2"] and _ids(store, severity="3") == ["b1"]
    assert _ids(store, product="", kind="", severity="", cursor="", limit="") == ["a2", "a1", "b1"]


@pytest.mark.parametrize("limit", ["1", "2", "100"])
def test_pages_follow_their_cursor_across_products_to_the_end(limit: str) -> None:
    store, seen, params = _two_products(), [], {"limit": limit}
    for _ in range(5):
        got = catalog.page(store, _who("acme"), params)
        assert 0 < len(got["items"]) <= int(limit)
        seen += [i["id"] for i in got["items"]]
        if got["next"] is None:
            break
        params = {"limit": limit, "cursor": got["next"]}
    assert seen == ["a2", "a1", "b1"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"kind": "nope"}, "invalid_field"),
        ({"severity": "9"}, "invalid_field"),
        ({"severity": "0"}, "invalid_field"),
        ({"severity": "high"}, "invalid_field"),
        ({"limit": "0"}, "invalid_field"),
        ({"limit": "101"}, "invalid_field"),
        ({"limit": "ten"}, "invalid_field"),
        ({"product": "M3/../x"}, "invalid_field"),
        ({"cursor": "xyz"}, "invalid_cursor"),
        ({"cursor": catalog._encode("M9", None)}, "invalid_cursor"),  # a product not in this contract
        ({"cursor": "eyJwIjogIk0zIiwgImMiOiA1fQ"}, "invalid_cursor"),  # {"p": "M3", "c": 5}
        ({"colour": "red"}, "unknown_field"),
    ],
)
def test_a_bad_filter_is_400_naming_the_problem(params: dict[str, str], code: str) -> None:
    with pytest.raises(BadRequest) as bad:
        catalog.page(_two_products(), _who("acme"), params)
    [name] = params
    assert bad.value.code == code and (f"'{name}'" if code != "unknown_field" else name) in str(bad.value)


def test_severities_one_to_four_filter_and_others_are_400_naming_the_range() -> None:
    store = _two_products()
    assert [_ids(store, severity=str(n)) for n in range(1, 5)] == [["a2"], ["a1"], ["b1"], []]
    with pytest.raises(BadRequest) as bad:
        _ids(store, severity="5")
    assert "from 1 to 4" in str(bad.value)


def test_a_page_holds_at_most_its_limit_when_a_product_has_more_than_the_room_left() -> None:
    store = _two_products()
    store.create_release(release("b2", product="M4", version="2.0", created_at="2026-01-04T00:00:00Z"))
    got = catalog.page(store, _who("acme"), {"limit": "3"})
    assert [i["id"] for i in got["items"]] == ["a2", "a1", "b2"] and got["next"] is not None


def test_a_product_outside_the_contract_is_403_naming_it_and_who_to_ask() -> None:
    with pytest.raises(Forbidden) as refused:
        catalog.page(_two_products(), _who("acme"), {"product": "M9"})
    assert refused.value.code == "product_not_in_contract" and refused.value.hint == catalog._HINT
    assert str(refused.value) == "Product M9 is not part of the support contract of account acme."


def test_an_account_without_a_contract_is_403_naming_it() -> None:
    with pytest.raises(Forbidden) as refused:
        catalog.page(_two_products(), _who("ghost"), {})
    assert refused.value.code == "no_contract" and refused.value.hint == catalog._HINT
    assert str(refused.value) == "Account ghost has no support contract."


def test_a_support_period_not_started_is_403_with_the_period_s_reason() -> None:
    store = _two_products()
    store.put_account(dataclasses.replace(store.accounts["acme"], support_start=date(2099, 1, 1)))
    with pytest.raises(Forbidden) as refused:
        catalog.page(store, _who("acme"), {})
    assert refused.value.code == "support_period_not_started" and refused.value.hint == catalog._HINT


def test_the_newest_releases_of_every_product_come_newest_first() -> None:
    store = _two_products()
    assert [r["id"] for r in catalog.newest(store, _who("acme"), count=2)] == ["b1", "a2"]
    assert [r["id"] for r in catalog.newest(store, _who("acme"))] == ["b1", "a2", "a1"]


def test_an_item_carries_what_a_customer_needs_to_choose_and_check_a_download() -> None:
    r = release("r9", sha256="a" * 64, size=10, article_url="https://kb.example/1", superseded_by="r10",
                superseded_version="2.0", published_at="2026-01-01T00:00:00Z")  # fmt: skip
    assert catalog.item(r) == {
        "id": "r9", "product": PRODUCT, "kind": "patch", "severity": 2, "channel": "ga", "version": "1.0",
        "title": "Fix", "summary": "Fixes it", "published_at": "2026-01-01T00:00:00Z", "filename": "f.zip",
        "size": 10, "sha256": "a" * 64, "article_url": "https://kb.example/1", "superseded_by": "r10",
        "superseded_version": "2.0",
    }  # fmt: skip


# -- downloads: the audit, a withdrawn release --------------------------------------------------------------------
def test_a_download_is_audited_for_the_signed_in_person_not_a_subscription() -> None:
    store = _store("premium")
    who = Identity(subject="s" * 80, email="p@acme.example", account_id="acme", groups=frozenset())
    catalog.download_url(store, _Blobs(), who, "r1", ip="192.0.2.9", user_agent="ua", successor_href=str)  # type: ignore[arg-type]
    [audit] = store.downloads
    assert audit["subscription_id"] == ("portal-" + "s" * 80)[:64] and audit["email"] == "p@acme.example"
    assert (audit["account_id"], audit["tier"], audit["ip"], audit["user_agent"]) == (
        "acme",
        "premium",
        "192.0.2.9",
        "ua",
    )
    assert store.tally[("r1", "download")] == {"premium#downloaded": 1, "premium#downloaders": 1}


def test_a_withdrawn_release_is_410_with_its_reason_and_a_link_to_an_entitled_successor() -> None:
    store = _store("premium")
    store.create_release(release("y1", version="0.9", status=ReleaseStatus.YANKED, reason="corrupts data", superseded_by="r1",
                                 superseded_version="1.0"))  # fmt: skip
    with pytest.raises(Gone) as gone:
        _download(store, "acme", "y1")
    assert gone.value.code == "release_yanked" and str(gone.value) == (
        "This release was withdrawn: corrupts data. It is superseded by M3 patch 1.0 (release r1)."
    )
    assert gone.value.hint and "newer M3 release" in gone.value.hint
    assert gone.value.action == catalog.Action("Download version 1.0", "r1", method="GET")
    assert store.downloads == []


@pytest.mark.parametrize("successor", ["r2", "r3", "none"])  # beta for premium, scheduled, unknown
def test_a_withdrawn_release_offers_no_successor_the_account_cannot_download(successor: str) -> None:
    store = _store("premium")
    store.create_release(release("y1", version="0.9", status=ReleaseStatus.YANKED, superseded_by=successor))
    with pytest.raises(Gone) as gone:
        _download(store, "acme", "y1")
    assert gone.value.action is None and str(gone.value) == "This release was withdrawn: no reason given."
