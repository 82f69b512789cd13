"""The catalogue of fixes on the in-memory store: it lists only the published releases the account's tier
includes, and a download from it answers 404 for what the account may not know of (a beta release its tier
lacks, a release not yet published, another product's), 403 only for what its contract says it lacks."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import Forbidden, NotFound
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
    assert missing.value.code == "not_found" and store.downloads == []
    assert _download(_store("elite"), "acme", "r2") == "https://s3.test/uploads/r2/f.zip"


@pytest.mark.parametrize("release_id", ["r3", "r4", "nope", "../r1"])
def test_a_release_not_published_or_not_in_the_contract_is_not_found(release_id: str) -> None:
    store = _store("elite")
    with pytest.raises(NotFound):
        _download(store, "acme", release_id)
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
    with pytest.raises(Forbidden):
        catalog.page(store, _who("acme"), {})
