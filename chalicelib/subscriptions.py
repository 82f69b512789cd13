"""Pre-registration: pending subscriptions, double opt-in by an emailed link, confirmation."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import mail
from chalicelib import validation as v
from chalicelib.auth import Identity
from chalicelib.entitlements import CHANNELS, KINDS, TIERS, decide
from chalicelib.errors import BadRequest, Forbidden, Gone, NotFound
from chalicelib.links import LinkMaker
from chalicelib.mailer import Mailer
from chalicelib.models import Account, Subscription, now_iso
from chalicelib.store import Table
from chalicelib.tokens import KeyRing, Purpose, TokenExpired, TokenInvalid, verify

CREATE_FIELDS = ("email", "products", "kinds", "max_severity", "channels")


def parse_new(body: dict[str, Any], account: Account) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    if "email" not in body:
        raise BadRequest("Field 'email' is required.", code="missing_field")
    email = v.email(body["email"])
    products = v.string_list(body, "products", item=v.ident)
    kinds = v.string_list(body, "kinds", item=v.one_of(KINDS))
    max_severity = v.integer(body, "max_severity", low=1, high=4)
    channels = v.string_list(body, "channels", item=v.one_of(CHANNELS), required=False, default=["ga"])
    outside = sorted(set(products) - set(account.products))
    if outside:
        raise BadRequest(
            f"Product(s) not in the contract of account {account.account_id}: {', '.join(outside)}.",
            code="unknown_product",
        )
    now = datetime.now(UTC)
    for channel in channels:
        decision = decide(account.contract(), product=products[0], kind=kinds[0], channel=channel, now=now)
        if not decision:
            raise Forbidden(decision.message, code=decision.reason.value)
    return {"email": email, "products": products, "kinds": kinds, "max_severity": max_severity, "channels": channels}


def create(
    table: Table, mailer: Mailer, links: LinkMaker, who: Identity, body: dict[str, Any], *, confirm_hours: int
) -> Subscription:
    account_id = who.require_customer()
    account = table.get_account(account_id)
    if account is None:
        raise Forbidden(f"Account {account_id} has no support contract.", code="no_contract")
    parsed = parse_new(body, account)
    sub = Subscription(
        account_id=account_id,
        subscription_id=uuid.uuid4().hex[:16],
        email=parsed["email"],
        products=tuple(parsed["products"]),
        kinds=tuple(parsed["kinds"]),
        max_severity=parsed["max_severity"],
        channels=tuple(parsed["channels"]),
        status="pending",
        created_at=now_iso(),
    )
    table.put_pending_subscription(sub, expires_at=int(time.time()) + confirm_hours * 3600)
    url = links.confirm(account_id, sub.subscription_id, hours=confirm_hours)
    raw = mail.confirmation(
        sender=mailer.sender,
        to=sub.email,
        account_name=account.name,
        products=list(sub.products),
        confirm_url=url,
        hours=confirm_hours,
    )
    mailer.send_raw(sub.email, raw)
    return sub


def confirm(table: Table, ring: KeyRing, token: str) -> Subscription:
    try:
        claims = verify(ring, token, Purpose.CONFIRM)
    except TokenExpired as exc:
        raise Gone(
            "This confirmation link has expired; subscribe again to get a new one.", code="link_expired"
        ) from exc
    except TokenInvalid as exc:
        raise NotFound("This confirmation link is not valid.", code="invalid_link") from exc
    account = table.get_account(claims.account_id)
    if account is None or account.tier not in TIERS:
        raise NotFound("This confirmation link is not valid.", code="invalid_link")
    return table.activate_subscription(claims.account_id, claims.subject, tier=account.tier)
