"""Pre-registration: pending subscriptions, double opt-in by an emailed link, confirmation; a customer's
own list, changes and removal; one-click unsubscribe from the link every notice carries."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.access.links import LinkMaker
from chalicelib.domain.access.tokens import Claims, KeyRing, Purpose, TokenExpired, TokenInvalid, verify
from chalicelib.domain.core import validation as v
from chalicelib.domain.core import versions
from chalicelib.domain.core.entitlements import CHANNELS, KINDS, TIERS, decide
from chalicelib.domain.core.errors import AlreadySubscribed, BadRequest, Conflict, Forbidden, Gone, NotFound
from chalicelib.domain.core.models import MAX_PRODUCTS, Account, Subscription, now_iso
from chalicelib.domain.core.states import HOLDING, SubscriptionStatus
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.subscriptions import confirmations

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Mailer
    from chalicelib.domain.subscriptions.ports import SubscriptionStore


CREATE_FIELDS = ("email", "products", "kinds", "max_severity", "channels", "installed", "digest")
CHANGE_FIELDS = ("products", "kinds", "max_severity", "channels", "installed", "digest")


def _preferences(body: dict[str, Any], account: Account, *, partial: bool) -> dict[str, Any]:
    """The preference fields present in ``body`` (all of them unless ``partial``), checked against the contract."""
    prefs: dict[str, Any] = {}
    if not partial or "products" in body:
        prefs["products"] = v.string_list(body, "products", item=v.ident, max_items=MAX_PRODUCTS)
        outside = sorted(set(prefs["products"]) - set(account.products))
        if outside:
            raise BadRequest(
                f"Product(s) not in the contract of account {account.account_id}: {', '.join(outside)}.",
                code="unknown_product",
            )
    if not partial or "kinds" in body:
        prefs["kinds"] = v.string_list(body, "kinds", item=v.one_of(KINDS))
    if not partial or "max_severity" in body:
        prefs["max_severity"] = v.integer(body, "max_severity", low=1, high=4)
    if not partial or "channels" in body:
        prefs["channels"] = v.string_list(body, "channels", item=v.one_of(CHANNELS), required=False, default=["ga"])
    if not partial or "installed" in body:  # absent or null: every version line
        raw = body.get("installed")
        prefs["installed"] = None if raw is None else versions.installed(raw, account.products)
    if not partial or "digest" in body:
        prefs["digest"] = digests.parse(body.get("digest", {}))
    return prefs


def _check_entitled(account: Account, products: tuple[str, ...] | list[str], kinds: Any, channels: Any) -> None:
    now = datetime.now(UTC)
    for channel in channels:
        decision = decide(account.contract(), product=products[0], kind=kinds[0], channel=channel, now=now)
        if not decision:
            raise Forbidden(decision.message, code=decision.reason.value)


def parse_new(body: dict[str, Any], account: Account) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    if "email" not in body:
        raise BadRequest("Field 'email' is required.", code="missing_field")
    email = v.email(body["email"])
    prefs = _preferences(body, account, partial=False)
    _check_entitled(account, prefs["products"], prefs["kinds"], prefs["channels"])
    return {"email": email, **prefs}


def _contract(table: SubscriptionStore, account_id: str) -> Account:
    account = table.get_account(account_id)
    if account is None:
        raise Forbidden(f"Account {account_id} has no support contract.", code="no_contract")
    return account


def create(
    table: SubscriptionStore,
    mailer: Mailer,
    urls: LinkMaker,
    who: Identity,
    body: dict[str, Any],
    *,
    confirm_hours: int,
) -> Subscription:
    account_id = who.require_customer()
    account = _contract(table, account_id)
    parsed = parse_new(body, account)
    _refuse_duplicate(table, account_id, parsed["email"])
    sub = _pending(account_id, parsed)
    # The message first: one that cannot be built must leave nothing written.
    raw = _confirmation(mailer, urls, account, sub, confirm_hours)
    expires_at = int(time.time()) + confirm_hours * 3600
    confirmations.send(
        table,
        mailer,
        account_id=account_id,
        address=sub.email,
        raw=raw,
        write=lambda guards: table.put_pending_subscription(sub, expires_at=expires_at, guards=guards),
        # Unsent, the pending subscription would hold the address (409) until it expired: take it back,
        # so that trying again works.
        undo=lambda: table.delete_subscription(account_id, sub.subscription_id),
    )
    return sub


def _pending(account_id: str, parsed: dict[str, Any]) -> Subscription:
    """A new subscription of the account, pending its confirmation, from a request's parsed fields."""
    return Subscription(
        account_id=account_id,
        subscription_id=uuid.uuid4().hex[:16],
        email=parsed["email"],
        products=tuple(parsed["products"]),
        kinds=tuple(parsed["kinds"]),
        max_severity=parsed["max_severity"],
        channels=tuple(parsed["channels"]),
        installed=parsed["installed"],
        digest=parsed["digest"],
        status=SubscriptionStatus.PENDING,
        created_at=now_iso(),
    )


def _confirmation(mailer: Mailer, urls: LinkMaker, account: Account, sub: Subscription, hours: int) -> bytes:
    return mail.confirmation(
        sender=mailer.sender,
        to=sub.email,
        account_name=account.name,
        products=list(sub.products),
        confirm_url=urls.confirm(sub.account_id, sub.subscription_id, hours=hours),
        hours=hours,
    )


def resend_confirmation(
    table: SubscriptionStore,
    mailer: Mailer,
    urls: LinkMaker,
    who: Identity,
    subscription_id: str,
    *,
    confirm_hours: int,
) -> Subscription:
    """A new confirmation email for a pending subscription of the caller's account, through the same limits
    (and suppression check) as the first one: ``confirmations.send`` is every confirmation's one way out."""
    sub = _own(table, who, subscription_id)
    if sub.status != SubscriptionStatus.PENDING:
        raise Conflict(
            f"This subscription is {sub.status}: there is nothing to confirm.", code=f"subscription_{sub.status}"
        )
    raw = _confirmation(mailer, urls, _contract(table, sub.account_id), sub, confirm_hours)
    confirmations.send(table, mailer, account_id=sub.account_id, address=sub.email, raw=raw)
    return sub


def _refuse_duplicate(table: SubscriptionStore, account_id: str, address: str) -> None:
    """The friendly early answer; the address item written with the subscription is what makes it race-free
    (and this also finds subscriptions made before address items existed)."""
    for existing in table.list_subscriptions(account_id):
        if existing.email == address and existing.status in HOLDING:
            raise AlreadySubscribed(existing.subscription_id)


def _claims(ring: KeyRing, token: str, purpose: Purpose, what: str) -> Claims:
    try:
        return verify(ring, token, purpose)
    except TokenExpired as exc:
        hint = "; subscribe again to get a new one" if purpose is Purpose.CONFIRM else ""
        raise Gone(f"This {what} link has expired{hint}.", code="link_expired") from exc
    except TokenInvalid as exc:
        raise NotFound(f"This {what} link is not valid.", code="invalid_link") from exc


def confirm_target(table: SubscriptionStore, ring: KeyRing, token: str) -> Subscription | None:
    """What a confirmation link points at (the GET page, which changes nothing); None when it is gone."""
    claims = _claims(ring, token, Purpose.CONFIRM, "confirmation")
    return table.get_subscription(claims.account_id, claims.subject)


def confirm(table: SubscriptionStore, ring: KeyRing, token: str) -> Subscription:
    claims = _claims(ring, token, Purpose.CONFIRM, "confirmation")
    account = table.get_account(claims.account_id)
    if account is None or account.tier not in TIERS:
        raise NotFound("This confirmation link is not valid.", code="invalid_link")
    return table.activate_subscription(
        claims.account_id, claims.subject, tier=account.tier, contract_products=account.products
    )


# -- the caller's own subscriptions -----------------------------------------------------------------
def list_own(table: SubscriptionStore, who: Identity) -> list[Subscription]:
    return table.list_subscriptions(who.require_customer())


def _own(table: SubscriptionStore, who: Identity, subscription_id: str) -> Subscription:
    """The caller's subscription; another account's (or a malformed id) looks like it does not exist."""
    account_id = who.require_customer()
    try:
        sub = table.get_subscription(account_id, v.ident(subscription_id, "id"))
    except BadRequest:
        sub = None
    if sub is None:
        raise NotFound(f"Subscription {subscription_id[:64]} does not exist.")
    return sub


def change(table: SubscriptionStore, who: Identity, subscription_id: str, body: dict[str, Any]) -> Subscription:
    if "email" in body:
        raise BadRequest(
            "Field 'email' cannot be changed: subscribe the new address, which confirms it.", code="read_only_field"
        )
    v.reject_unknown(body, CHANGE_FIELDS)
    if not body:
        raise BadRequest(f"Nothing to change: give one or more of {', '.join(CHANGE_FIELDS)}.", code="missing_field")
    sub = _own(table, who, subscription_id)
    account = _contract(table, sub.account_id)
    prefs = _preferences(body, account, partial=True)
    updates: dict[str, Any] = {k: tuple(x) if isinstance(x, list) else x for k, x in prefs.items()}
    changed = dataclasses.replace(sub, **updates)
    if sub.status not in HOLDING:
        raise Conflict(
            f"This subscription is {sub.status}; subscribe again (a new confirmation email is sent).",
            code=f"subscription_{sub.status}",
        )
    _check_entitled(account, changed.products, changed.kinds, changed.channels)
    return table.change_subscription(changed, tier=account.tier, contract_products=account.products)


def remove(table: SubscriptionStore, who: Identity, subscription_id: str) -> None:
    sub = _own(table, who, subscription_id)
    if not table.delete_subscription(sub.account_id, sub.subscription_id):
        raise NotFound(f"Subscription {subscription_id} does not exist.")


# -- one-click unsubscribe (RFC 8058) ---------------------------------------------------------------
def unsubscribe_target(table: SubscriptionStore, ring: KeyRing, token: str) -> Subscription | None:
    """What an unsubscribe link points at (the GET page); None when the subscription is gone."""
    claims = _claims(ring, token, Purpose.UNSUBSCRIBE, "unsubscribe")
    return table.get_subscription(claims.account_id, claims.subject)


def unsubscribe(table: SubscriptionStore, ring: KeyRing, token: str) -> Subscription | None:
    """Turn the subscription off and drop its audience entries at once; idempotent."""
    claims = _claims(ring, token, Purpose.UNSUBSCRIBE, "unsubscribe")
    return table.turn_off_subscription(claims.account_id, claims.subject, SubscriptionStatus.UNSUBSCRIBED)


def is_one_click(raw: bytes | str | None) -> bool:
    """RFC 8058's POST body ``List-Unsubscribe=One-Click``, form-encoded or multipart."""
    from urllib.parse import parse_qs

    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
    if parse_qs(text.strip()).get("List-Unsubscribe") == ["One-Click"]:
        return True
    compact = "".join(text.split())
    return 'name="List-Unsubscribe"One-Click' in compact


def masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"
