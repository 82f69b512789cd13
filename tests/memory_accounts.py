"""The in-memory store's part for contracts, subscriptions and their confirmations, suppressions and SES feedback,
mails sent once per account, and a release's report counters: what ``accounts``, ``subscriptions`` and
``reports`` ask of the store (their ``ports``), as the table's parts of the same names serve it.

Each write that is one transaction on the table is one step under the store's lock here; the confirmation
counters keep a revision, so a guard taken from an old reading fails (``CountersMoved``) as the table's
condition does. tests/adapters/test_store_contract.py holds both to the same scenarios.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.core.errors import AlreadySubscribed, BadRequest, Conflict, CountersMoved, NotFound
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import HOLDING, SubscriptionStatus
from chalicelib.domain.subscriptions.limits import History, Window, after_account, after_address, without

_CURSOR_PREFIX = "a1:"  # the table's contract-list cursor (store/catalog.py), so a foreign one is refused alike
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class AccountsMemory:
    """Contracts, subscriptions, confirmations, suppressions, feedback, once-only sends and report counters."""

    # Held by MemoryStore (tests/memory_store.py), which sets them up.
    _lock: threading.RLock
    accounts: dict[str, Account]
    products: dict[str, Product]
    subscriptions: dict[tuple[str, str], Subscription]
    suppressed_addresses: set[str]
    tally: dict[tuple[str, str], dict[str, int]]
    downloads: list[dict[str, Any]]
    releases: dict[str, Release]
    deliveries: dict[tuple[str, str], dict[str, DeliveryRecord]]
    delivery_at: dict[tuple[str, str, str], str]
    downloader_marks: dict[tuple[str, str], dict[str, Any]]

    def _now(self) -> int:
        raise NotImplementedError

    def _init_accounts(self) -> None:
        self._expires: dict[tuple[str, str], int] = {}  # a pending subscription's TTL
        self._addresses: dict[tuple[str, str], tuple[str, int | None]] = {}  # (account, address) -> (sub, TTL)
        self._counters: dict[str, Window] = {}  # confirmation counters by key, with their revision
        self._suppressions: dict[str, dict[str, Any]] = {}
        self.suppression_lifts_by: dict[str, list[dict[str, Any]]] = {}
        self._bounces: dict[str, int] = {}
        self._once: dict[tuple[str, str], dict[str, Any]] = {}
        self.due: dict[tuple[str, str], datetime] = {}  # (kind, account) -> when it is next due

    # -- contracts and products ---------------------------------------------------------------------
    def put_product(self, product: Product) -> None:
        self.products[product.product_id] = product

    def get_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def list_products(self) -> list[Product]:
        return sorted(self.products.values(), key=lambda p: p.product_id)

    def put_account(self, account: Account) -> bool:
        """Upsert a contract; False when the stored one was already identical."""
        with self._lock:
            changed = self.accounts.get(account.account_id) != account
            self.accounts[account.account_id] = account
            return changed

    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None:
        return self.accounts.get(account_id)

    def get_accounts(self, account_ids: Iterable[str]) -> dict[str, Account]:
        return {a: self.accounts[a] for a in set(account_ids) if a in self.accounts}

    def accounts_page(self, *, limit: int, cursor: str | None) -> tuple[list[Account], str | None]:
        after = None if cursor is None else _after_account(cursor)
        ordered = [self.accounts[a] for a in sorted(self.accounts) if after is None or a > after]
        page = ordered[:limit]
        return page, (_cursor_after(page[-1].account_id) if len(ordered) > limit and page else None)

    def sync_audience(self, account_id: str, *, cursor: str | None = None, limit: int | None = None) -> str | None:
        """Nothing to rewrite: the audience here is read from the subscriptions and contracts as they are."""
        return None

    def set_due(self, kind: str, account_id: str, at: datetime, *, keep: bool = False) -> None:
        """The account's next ``kind`` (review, warning) is due at ``at`` (``keep``: unless one is due already)."""
        with self._lock:
            if not (keep and (kind, account_id) in self.due):
                self.due[(kind, account_id)] = at

    def clear_due(self, kind: str, account_id: str) -> None:
        self.due.pop((kind, account_id), None)

    # -- subscriptions and their address items ------------------------------------------------------
    def put_subscription(self, sub: Subscription) -> None:
        """Seeding: a subscription as another part of the system left it (active ones hold their address)."""
        self.subscriptions[(sub.account_id, sub.subscription_id)] = sub
        if sub.status in HOLDING:
            self._addresses[(sub.account_id, sub.email)] = (sub.subscription_id, None)

    def get_subscription(
        self, account_id: str, subscription_id: str, *, consistent: bool = True
    ) -> Subscription | None:
        return self.subscriptions.get((account_id, subscription_id))

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        now = self._now()
        return [
            s
            for (a, sid), s in sorted(self.subscriptions.items())
            if a == account_id and self._expires.get((a, sid), now + 1) > now
        ]

    def address_holder(self, account_id: str, address: str) -> str | None:
        held = self._addresses.get((account_id, address))
        if held is None or (held[1] is not None and held[1] < self._now()):
            return None
        return held[0]

    def put_pending_subscription(
        self, sub: Subscription, *, expires_at: int, guards: Sequence[dict[str, Any]] = ()
    ) -> None:
        with self._lock:
            holder = self.address_holder(sub.account_id, sub.email)
            if holder is not None or (sub.account_id, sub.subscription_id) in self.subscriptions:
                raise AlreadySubscribed(holder or sub.subscription_id)
            self._apply(guards)
            self.subscriptions[(sub.account_id, sub.subscription_id)] = sub
            self._expires[(sub.account_id, sub.subscription_id)] = expires_at
            self._addresses[(sub.account_id, sub.email)] = (sub.subscription_id, expires_at)

    def activate_subscription(
        self, account_id: str, subscription_id: str, *, tier: str, contract_products: Iterable[str] | None = None
    ) -> Subscription:
        with self._lock:
            sub = self.subscriptions.get((account_id, subscription_id))
            if sub is None:
                raise NotFound("This subscription does not exist or its confirmation link has expired.")
            if sub.status == SubscriptionStatus.ACTIVE:
                return sub
            holder = self._addresses.get((account_id, sub.email))
            if (
                sub.status != SubscriptionStatus.PENDING
                or sub.email.lower() in self._suppressions
                or (holder is not None and holder[0] != subscription_id)
            ):
                raise Conflict("This subscription can no longer be confirmed.")
            active = dataclasses.replace(sub, status=SubscriptionStatus.ACTIVE, confirmed_at=now_iso())
            self.subscriptions[(account_id, subscription_id)] = active
            self._expires.pop((account_id, subscription_id), None)
            self._addresses[(account_id, sub.email)] = (subscription_id, None)
            return active

    def change_subscription(
        self, changed: Subscription, *, tier: str, contract_products: Iterable[str]
    ) -> Subscription:
        with self._lock:
            old = self.subscriptions.get((changed.account_id, changed.subscription_id))
            if old is None:
                raise NotFound(f"Subscription {changed.subscription_id} does not exist.")
            new = dataclasses.replace(
                old,
                products=changed.products,
                kinds=changed.kinds,
                max_severity=changed.max_severity,
                channels=changed.channels,
                installed=changed.installed,
                digest=changed.digest,
            )
            self.subscriptions[(old.account_id, old.subscription_id)] = new
            return new

    def delete_subscription(self, account_id: str, subscription_id: str) -> bool:
        with self._lock:
            sub = self.subscriptions.pop((account_id, subscription_id), None)
            if sub is None:
                return False
            self._expires.pop((account_id, subscription_id), None)
            self._free_address(sub)
            return True

    def turn_off_subscription(
        self, account_id: str, subscription_id: str, status: SubscriptionStatus
    ) -> Subscription | None:
        with self._lock:
            sub = self.subscriptions.get((account_id, subscription_id))
            if sub is None or sub.status not in HOLDING:
                return sub
            off = dataclasses.replace(sub, status=status)
            self.subscriptions[(account_id, subscription_id)] = off
            self._free_address(sub)
            return off

    def _free_address(self, sub: Subscription) -> None:
        if self.address_holder(sub.account_id, sub.email) == sub.subscription_id:
            del self._addresses[(sub.account_id, sub.email)]

    # -- confirmation counters ----------------------------------------------------------------------
    def confirmation_history(self, account_id: str, address: str) -> History:
        return History(
            address=self._counters.get(f"TO#{address.lower()}", Window()),
            account=self._counters.get(f"BY#{account_id}", Window()),
        )

    def confirmation_guards(self, history: History, account_id: str, address: str, now: int) -> list[dict[str, Any]]:
        return [
            {"counter": f"TO#{address.lower()}", "read": history.address, "sent": after_address(history.address, now)},
            {"counter": f"BY#{account_id}", "read": history.account, "sent": after_account(history.account, now)},
            {"not_suppressed": address.lower()},
        ]

    def take_confirmation(self, guards: list[dict[str, Any]]) -> None:
        with self._lock:
            self._apply(guards)

    def give_back_confirmation(self, account_id: str, address: str, at: int) -> None:
        with self._lock:
            history = self.confirmation_history(account_id, address)
            self._apply(
                [
                    {
                        "counter": f"TO#{address.lower()}",
                        "read": history.address,
                        "sent": without(history.address.sent, at),
                    },
                    {"counter": f"BY#{account_id}", "read": history.account, "sent": without(history.account.sent, at)},
                ]
            )

    def _apply(self, guards: Sequence[dict[str, Any]]) -> None:
        """All guards hold, then all counters move: or nothing is written (``CountersMoved``)."""
        for g in guards:
            moved = "counter" in g and self._counters.get(g["counter"], Window()).rev != g["read"].rev
            if moved or g.get("not_suppressed", "\0") in self._suppressions:
                raise CountersMoved("The confirmation counters moved; read them again.")
        for g in guards:
            if "counter" in g:
                self._counters[g["counter"]] = Window(tuple(g["sent"]), g["read"].rev + 1)

    # -- suppressions and feedback ------------------------------------------------------------------
    def suppress(self, address: str) -> None:
        """Seeding: an address suppressed (its subscriptions left as they are)."""
        self._suppressions[address.lower()] = {"email": address.lower(), "reason": "seeded", "at": now_iso()}
        self.suppressed_addresses.add(address.lower())

    def suppress_address(self, address: str, *, reason: str, detail: str, feedback_id: str) -> list[Subscription]:
        addr = address.lower()
        with self._lock:
            record = {"email": addr, "reason": reason, "detail": detail[:500], "feedback_id": feedback_id[:200]}
            self._suppressions[addr] = {**record, "at": now_iso()}
            self.suppressed_addresses.add(addr)
            turned = []
            for (a, sid), sub in sorted(self.subscriptions.items()):
                if sub.email.lower() == addr and sub.status in HOLDING:
                    off = self.turn_off_subscription(a, sid, SubscriptionStatus.SUPPRESSED)
                    turned += [off] if off is not None else []
            return turned

    def suppression(self, address: str) -> dict[str, Any] | None:
        found = self._suppressions.get(address.lower())
        return dict(found) if found else None

    def lift_suppression(self, address: str, *, by: str) -> dict[str, Any] | None:
        addr = address.lower()
        with self._lock:
            current = self._suppressions.pop(addr, None)
            if current is None:
                return None
            self.suppressed_addresses.discard(addr)
            at = now_iso()
            record = {
                "email": addr,
                "reason": current.get("reason"),
                "detail": current.get("detail"),
                "suppressed_at": current.get("at"),
                "lifted_at": at,
                "lifted_by": by[:200],
            }
            self.suppression_lifts_by.setdefault(addr, []).append(record)
            return dict(record)

    def suppressed(self, addresses: Sequence[str]) -> set[str]:
        return {a.lower() for a in addresses if a.lower() in self._suppressions}

    def count_transient_bounce(self, address: str) -> int:
        with self._lock:
            self._bounces[address.lower()] = self._bounces.get(address.lower(), 0) + 1
            return self._bounces[address.lower()]

    def transient_bounces(self, addresses: Sequence[str]) -> dict[str, int]:
        return {a.lower(): self._bounces[a.lower()] for a in addresses if a.lower() in self._bounces}

    # -- a mail sent once per account and key --------------------------------------------------------
    def claim_once(self, account_id: str, what: str, *, lease_seconds: int) -> tuple[str, set[str]]:
        with self._lock:
            now = self._now()
            once = self._once.setdefault((account_id, what), {"sent": set()})
            if "done_at" in once:
                return "done", set()
            if once.get("lease_until", -1) >= now:
                return "busy", set()
            once["lease_until"] = now + lease_seconds
            return "claimed", set(once["sent"])

    def note_once_sent(self, account_id: str, what: str, address: str) -> None:
        with self._lock:
            self._once.setdefault((account_id, what), {"sent": set()})["sent"].add(address.lower())

    def finish_once(self, account_id: str, what: str, *, give_back: bool = False) -> None:
        with self._lock:
            once = self._once.setdefault((account_id, what), {"sent": set()})
            if give_back:
                once["lease_until"] = 0
            else:
                once["done_at"] = now_iso()
                once.pop("lease_until", None)

    # -- what the review reads ------------------------------------------------------------------------
    def published_between(self, start: datetime, end: datetime, products: Sequence[str] | None = None) -> list[Release]:
        """Releases (of ``products``) published in ``[start, end)``, oldest first; an end within a second counts
        that whole second as before it (stored times are to the second), as the table's query does."""
        low, high = _iso(start), _iso(end + timedelta(microseconds=999_999))
        found = [
            r
            for r in self.releases.values()
            if r.published_at and low <= r.published_at < high and (products is None or r.product in products)
        ]
        return sorted(found, key=lambda r: (r.published_at or "", r.release_id))

    def account_part(self, release_id: str, account_id: str) -> dict[str, list[dict[str, Any]]]:
        """One account's delivery records of a release's notice and recall, and its downloader markers, as the
        table's items (the fields the review reads)."""
        part: dict[str, list[dict[str, Any]]] = {}
        for notice in ("release", "recall"):
            records = self.deliveries.get((release_id, notice), {})
            part[notice] = [
                _delivery_item(release_id, notice, records[k], self.delivery_at.get((release_id, notice, k)))
                for k in sorted(records)
                if k.startswith(f"{account_id}#")
            ]
        part["downloads"] = [
            {"SK": f"DOWNLOADER#{who}", "type": "downloader", **marker}
            for (rid, who), marker in sorted(self.downloader_marks.items())
            if rid == release_id and who.startswith(f"{account_id}#")
        ]
        return part

    # -- a release's report ---------------------------------------------------------------------------
    def tallies(self, release_id: str) -> dict[str, dict[str, int]]:
        return {notice: dict(counts) for (rid, notice), counts in self.tally.items() if rid == release_id and counts}

    def first_download(self, release_id: str) -> str | None:
        times = [str(d["at"]) for d in self.downloads if d["release_id"] == release_id]
        return min(times) if times else None


def _cursor_after(account_id: str) -> str:
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + account_id).encode()).decode().rstrip("=")


def _after_account(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    account_id = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not _ACCOUNT_ID.fullmatch(account_id):
        raise BadRequest(
            "Query parameter 'cursor' is not one this API gave: pass the 'next' of a page.", code="invalid_cursor"
        )
    return account_id


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _delivery_item(release_id: str, notice: str, record: DeliveryRecord, at: str | None) -> dict[str, Any]:
    r = record.recipient
    item = {
        "SK": f"DELIVERY#{notice}#{r.key}",
        "type": "delivery",
        "notice": notice,
        "recipient": r.key,
        "account_id": r.account_id,
        "subscription_id": r.subscription_id,
        "email": r.email,
        "tier": r.tier,
        "role": r.role,
        "status": record.status,
        "message_id": record.message_id,
        "detail": record.detail,
        "at": at,
    }
    return {k: v for k, v in item.items() if v is not None}
