"""Contracts (accounts) and the product catalog: parsing requests into records, and access rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.access.auth import SUPPORT_ADMINS, Identity
from chalicelib.domain.core import entitlements, timestamps
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.errors import BadRequest, Forbidden, InvalidFields, NotFound
from chalicelib.domain.core.messages import AccountChange
from chalicelib.domain.core.models import Account, Product

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import ContractStore
    from chalicelib.domain.core.ports import Queues


ACCOUNT_FIELDS = ("name", "tier", "products", "support_start", "support_end", "timezone", "business_hours",
                  "csm_email", "oncall_email")  # fmt: skip
PRODUCT_FIELDS = ("name", "features")
FEATURES = ("X10", "P1", "E7")  # the seed's features marked '*': offered only for some products
LIST_LIMIT = 100  # contracts per page of GET /accounts, at most
T = TypeVar("T")


def parse_account(account_id: str, body: dict[str, Any], *, known_products: set[str] | None = None) -> Account:
    """The contract in ``body``, every field checked on its own: a contract with several faults answers
    them all at once (``InvalidFields``), so an import needs one run to learn what to fix, not one per fault."""
    faults = _Faults()
    for unknown in sorted(set(body) - set(ACCOUNT_FIELDS)):
        faults.add(unknown, BadRequest(f"Unknown field '{unknown}'.", code="unknown_field"))
    account_id = faults.check("account_id", lambda: v.ident(account_id, "account_id"), account_id)
    products: list[str] = faults.check("products", lambda: _products(body, known_products), [])
    start = faults.check("support_start", lambda: timestamps.iso_date(body, "support_start"), None)
    end = faults.check("support_end", lambda: timestamps.iso_date(body, "support_end"), None)
    if start is not None and end is not None and end < start:
        faults.add(
            "support_end", BadRequest("Field 'support_end' must not be before 'support_start'.", code="invalid_field")
        )
    tz = faults.check("timezone", lambda: _timezone(body.get("timezone", "UTC")), "UTC")
    name = faults.check("name", lambda: v.text(body, "name", max_len=200) or "", "")
    tier = faults.check("tier", lambda: v.choice(body, "tier", TIERS), "")
    hours = faults.check("business_hours", lambda: _hours(body.get("business_hours")), (8, 17))
    csm = faults.check("csm_email", lambda: _optional_email(body, "csm_email"), None)
    oncall = faults.check("oncall_email", lambda: _optional_email(body, "oncall_email"), None)
    faults.raise_any()
    assert start is not None and end is not None  # no fault: both parsed
    return Account(
        account_id=account_id,
        name=name,
        tier=tier,
        products=tuple(products),
        support_start=start,
        support_end=end,
        timezone=tz,
        business_hours=hours,
        csm_email=csm,
        oncall_email=oncall,
    )


class _Faults:
    """The faults of one request body, collected field by field."""

    def __init__(self) -> None:
        self.found: list[tuple[str, BadRequest]] = []

    def add(self, field: str, err: BadRequest) -> None:
        self.found.append((field, err))

    def check(self, field: str, parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except BadRequest as err:
            self.add(field, err)
            return fallback

    def raise_any(self) -> None:
        if not self.found:
            return
        if len(self.found) == 1:
            raise self.found[0][1]  # one fault: the usual {"error", "message"}
        fields = [{"field": f, "error": e.code, "message": e.message} for f, e in self.found]
        raise InvalidFields(
            f"{len(fields)} fields are wrong: " + " ".join(e.message for _, e in self.found),
            code="invalid_fields",
            fields=fields,
        )


def _products(body: dict[str, Any], known: set[str] | None) -> list[str]:
    products = v.string_list(body, "products", item=v.ident)
    unknown = sorted(set(products) - known) if known is not None else []
    if unknown:
        raise v.unknown_products(unknown, known or set())
    return products


def _timezone(tz: Any) -> str:
    try:
        ZoneInfo(tz if isinstance(tz, str) else "")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(
            "Field 'timezone' must be an IANA time zone such as Europe/Stockholm.", code="invalid_field"
        ) from exc
    return str(tz)


def _optional_email(body: dict[str, Any], field: str) -> str | None:
    return v.email(body[field], field) if body.get(field) else None


def _hours(value: Any) -> tuple[int, int]:
    if value is None:
        return (8, 17)
    if isinstance(value, dict) and set(value) == {"start", "end"}:
        start, end = value["start"], value["end"]
        if all(isinstance(h, int) and not isinstance(h, bool) for h in (start, end)) and 0 <= start < end <= 24:
            return (start, end)
    raise BadRequest(
        'Field \'business_hours\' must be {"start": H, "end": H} with 0 <= start < end <= 24.', code="invalid_field"
    )


def parse_product(product_id: str, body: dict[str, Any]) -> Product:
    v.reject_unknown(body, PRODUCT_FIELDS)
    features = v.string_list(body, "features", item=v.one_of(FEATURES), required=False, default=[])
    return Product(
        product_id=v.ident(product_id, "product_id"),
        name=v.text(body, "name", max_len=200) or "",
        features=tuple(features),
    )


def upsert_product(table: ContractStore, who: Identity, product_id: str, body: dict[str, Any]) -> Product:
    who.require_group(SUPPORT_ADMINS)
    product = parse_product(product_id, body)
    table.put_product(product)
    return product


def put_account(
    table: ContractStore, queues: Queues, who: Identity, account_id: str, body: dict[str, Any]
) -> tuple[Account, bool, bool]:
    """A support admin's contract, parsed and written (``upsert``): the account, whether it changed, and whether
    it is new (read first, for the import's words: a race with another writer can only
    make a new contract read as an update)."""
    who.require_group(SUPPORT_ADMINS)
    account = parse_account(account_id, body, known_products=known_products(table))
    created = table.get_account(account_id, consistent=True) is None
    return account, upsert(table, queues, who, account), created


def upsert(table: ContractStore, queues: Queues, who: Identity, account: Account) -> bool:
    """Write the contract, and queue the rewrite of its subscribers' audience entries (a tier change moves
    them in the delivery order; a product dropped from the contract drops its entries): an account's
    subscriptions are paged through by the account-change handler, not in the request. Fan-out checks
    the entitlement from the contract itself, so it is right meanwhile; only the order waits. Queued on
    every upsert, unchanged or not, so an interrupted earlier sync heals on the next import. Its next review
    and warning go in the due index (``due.schedule``) likewise."""
    from chalicelib.domain.accounts import due

    who.require_group(SUPPORT_ADMINS)
    changed = table.put_account(account)
    due.schedule(table, account, datetime.now(UTC))
    queues.send_account_change(AccountChange(account.account_id))
    return changed


def sync_page(table: ContractStore, queues: Queues, change: AccountChange) -> None:
    """One page of an account change; the next page goes back on the queue (idempotent: a page synced
    twice writes nothing the second time)."""
    following = table.sync_audience(change.account_id, cursor=change.cursor)
    if following:
        queues.send_account_change(AccountChange(change.account_id, following))


def entitlements_of(table: ContractStore, who: Identity, *, now: datetime | None = None) -> dict[str, Any]:
    """The caller's account: tier, whether the support period is active (and why not), products, features."""
    account_id = who.require_customer()
    account = table.get_account(account_id)
    if account is None:
        raise Forbidden(f"Account {account_id} has no support contract.", code="no_contract")
    active = entitlements.period_active(account.contract(), now or datetime.now(UTC))
    tier = entitlements.policy(account.tier)
    catalog = {p.product_id: p for p in table.list_products()}
    return {
        "account_id": account.account_id,
        "name": account.name,
        "tier": account.tier,
        "active": active.allowed,
        "reason": active.reason.value,
        "message": active.message,
        "period": {"start": account.support_start.isoformat(), "end": account.support_end.isoformat()},
        "products": [
            {
                "product_id": pid,
                "name": catalog[pid].name if pid in catalog else pid,
                "features": entitlements.product_features(
                    account.tier, catalog[pid].features if pid in catalog else ()
                ),
            }
            for pid in account.products
        ],
        "features": tier.as_dict() if tier else {},
    }


def list_page(table: ContractStore, *, cursor: str, limit: str) -> dict[str, Any]:
    """A page of contracts in account id order (support admins): ``{"items", "next"}``, ``next`` opaque."""
    if limit and not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= LIST_LIMIT):
        raise BadRequest(f"Query parameter 'limit' must be an integer from 1 to {LIST_LIMIT}.", code="invalid_field")
    items, following = table.accounts_page(limit=int(limit or 50), cursor=cursor or None)
    return {"items": [a.public() for a in items], "next": following}


def known_products(table: ContractStore) -> set[str]:
    return {p.product_id for p in table.list_products()}


def readable_account(table: ContractStore, account_id: str, who: Identity) -> Account:
    """Support admins read any contract; a customer only their own (others look like they do not exist)."""
    if SUPPORT_ADMINS not in who.groups and who.account_id != account_id:
        raise NotFound(f"Account {account_id} does not exist.")
    account = table.get_account(account_id)
    if account is None:
        raise NotFound(f"Account {account_id} does not exist.")
    return account
