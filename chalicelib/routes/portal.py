"""The customer portal under ``/portal``: sign-in and sign-out, home, alerts (the preference centre) and
fixes (the catalogue with its downloads), server-rendered. A thin layer: the session and pages come from
``chalicelib.routes.web`` (who may see a page: ``web.guard``), everything a customer may do from the same
domain modules as the API's routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import PatchcastError
from chalicelib.routes import link_maker
from chalicelib.routes.http import header, query_param, source_ip
from chalicelib.routes.web.guard import page_guard

bp = Blueprint(__name__)
page = page_guard(bp)
FORM = ["application/x-www-form-urlencoded"]
SEVERITIES = ((1, "critical"), (2, "high"), (3, "medium"), (4, "low"))
STATES = {
    "pending": "Waiting for the address to confirm: open the link in the confirmation email.",
    "active": "Confirmed: alerts are sent to this address.",
    "unsubscribed": "Unsubscribed through a link in an email; subscribe again to resume.",
    "suppressed": "Stopped: no more mail goes to this address. Ask your support administrator to lift it.",
}
DONE = {"created": "Subscribed: check the inbox for the confirmation email.", "changed": "Preferences saved.",
        "removed": "Subscription removed.", "resent": "A new confirmation email is on its way."}  # fmt: skip


def base() -> str:
    return wiring.get().settings.public_base_url


# -- home -------------------------------------------------------------------------------------------
@bp.route("/portal", methods=["GET"])
@page()
def home(*, who: Any, ctx: dict[str, Any]) -> Response:
    from datetime import UTC, date, datetime

    from chalicelib.domain.accounts import contracts as accounts
    from chalicelib.domain.core import entitlements
    from chalicelib.domain.downloads import catalog as fixes
    from chalicelib.routes.web import pages

    table = wiring.get().table
    ent = accounts.entitlements_of(table, who)
    days_left = entitlements.days_left(date.fromisoformat(ent["period"]["end"]), datetime.now(UTC).date())
    newest = fixes.newest(table, who) if ent["active"] else []
    return pages.render("home.html", title=f"Welcome, {ent['name']}", ent=ent, tier=ent["features"],
                        days_left=days_left, newest=newest, **ctx)  # fmt: skip


# -- alerts: the preference centre ------------------------------------------------------------------
def _alerts(who: Any, ctx: dict[str, Any], *, error: str = "", status: int = 200) -> Response:
    from chalicelib.domain.core import entitlements
    from chalicelib.domain.subscriptions import preregistration as subscriptions
    from chalicelib.routes.web import pages

    table = wiring.get().table
    account = table.get_account(who.require_customer())
    tier = entitlements.policy(account.tier) if account else None
    notice = DONE.get(query_param(bp.current_request, "done"), "")
    subs = subscriptions.list_own(table, who)
    why = {s.subscription_id: _suppressed_why(table, s.email) for s in subs if s.status == "suppressed"}
    return pages.render("alerts.html", status=status, title="Your alerts", subs=subs, why=why,
                        products=sorted(account.products) if account else [], kinds=entitlements.KINDS,
                        severities=SEVERITIES, beta=bool(tier and "beta" in tier.channels), states=STATES,
                        error=error, notice=notice, **ctx)  # fmt: skip


def _suppressed_why(table: Any, address: str) -> str:
    reason = str((table.suppression(address) or {}).get("reason", ""))
    return {"bounce": "Mail to this address bounced permanently.",
            "complaint": "A message to this address was reported as spam."}.get(reason, "")  # fmt: skip


def _prefs(form: dict[str, list[str]], *, new: bool) -> dict[str, Any]:
    """A form's fields as the API's JSON body, so the same validation names the same fields."""
    severity = (form.get("max_severity") or [""])[0]
    body: dict[str, Any] = {"products": form.get("products", []), "kinds": form.get("kinds", []),
                            "max_severity": int(severity) if severity.isascii() and severity.isdigit() and len(severity) < 3 else severity,
                            "channels": form.get("channels") or ["ga"]}  # fmt: skip
    # per product the version lines run (none given: every line), per severity a digest (instant: absent)
    lines = {p: [v.strip() for v in (form.get(f"installed-{p}") or [""])[0].split(",") if v.strip()]
             for p in body["products"] if isinstance(p, str)}  # fmt: skip
    body["installed"] = {p: v for p, v in lines.items() if v} or None
    choices = {str(n): (form.get(f"digest-{n}") or ["instant"])[0] for n, _ in SEVERITIES if n > 1}
    body["digest"] = {n: f for n, f in choices.items() if f != "instant"}
    if new:
        body["email"] = (form.get("email") or [""])[0]
    return body


def _done(what: str) -> Response:
    from chalicelib.routes.web import pages

    return pages.redirect(f"{base()}/portal/alerts?done={what}", status=303)


@bp.route("/portal/alerts", methods=["GET"])
@page()
def alerts(*, who: Any, ctx: dict[str, Any]) -> Response:
    return _alerts(who, ctx)


@bp.route("/portal/alerts", methods=["POST"], content_types=FORM)
@page(post=True)
def create_alert(*, who: Any, ctx: dict[str, Any], form: dict[str, list[str]]) -> Response:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    w = wiring.get()
    try:
        subscriptions.create(w.table, w.mailer, link_maker(), who, _prefs(form, new=True),
                             confirm_hours=w.settings.confirm_link_hours)  # fmt: skip
    except PatchcastError as err:
        return _alerts(who, ctx, error=err.message, status=err.status)
    return _done("created")


@bp.route("/portal/alerts/{subscription_id}", methods=["POST"], content_types=FORM)
@page(post=True)
def change_alert(subscription_id: str, *, who: Any, ctx: dict[str, Any], form: dict[str, list[str]]) -> Response:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    try:
        subscriptions.change(wiring.get().table, who, subscription_id, _prefs(form, new=False))
    except PatchcastError as err:
        if err.status == 404:
            raise
        return _alerts(who, ctx, error=err.message, status=err.status)
    return _done("changed")


@bp.route("/portal/alerts/{subscription_id}/remove", methods=["POST"], content_types=FORM)
@page(post=True)
def remove_alert(subscription_id: str, *, who: Any, ctx: dict[str, Any], form: dict[str, list[str]]) -> Response:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    subscriptions.remove(wiring.get().table, who, subscription_id)
    return _done("removed")


@bp.route("/portal/alerts/{subscription_id}/confirmation", methods=["POST"], content_types=FORM)
@page(post=True)
def resend_alert(subscription_id: str, *, who: Any, ctx: dict[str, Any], form: dict[str, list[str]]) -> Response:
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    w = wiring.get()
    subscriptions.resend_confirmation(w.table, w.mailer, link_maker(), who, subscription_id,
                                      confirm_hours=w.settings.confirm_link_hours)  # fmt: skip
    return _done("resent")


# -- fixes: the catalogue ---------------------------------------------------------------------------
@bp.route("/portal/fixes", methods=["GET"])
@page()
def fixes_page(*, who: Any, ctx: dict[str, Any]) -> Response:
    from chalicelib.domain.core import entitlements
    from chalicelib.domain.downloads import catalog as fixes
    from chalicelib.routes.web import pages

    params = {k: v for k, v in dict(bp.current_request.query_params or {}).items() if v}
    found = fixes.page(wiring.get().table, who, params)
    account = wiring.get().table.get_account(who.require_customer())
    chosen = {k: params.get(k, "") for k in ("product", "kind", "severity")}
    more = urlencode({**{k: v for k, v in chosen.items() if v}, "cursor": found["next"]}) if found["next"] else ""
    return pages.render("fixes.html", title="Your fixes", items=found["items"], next=more, chosen=chosen,
                        products=sorted(account.products) if account else [], kinds=entitlements.KINDS,
                        severities=SEVERITIES, **ctx)  # fmt: skip


@bp.route("/portal/fixes/{release_id}/download", methods=["GET"])
@page()
def download(release_id: str, *, who: Any, ctx: dict[str, Any]) -> Response:
    """A GET that re-checks everything, as the emailed link does: the Download button is a plain link (it
    can be opened in a new tab or handed to a download manager), and a form's redirect to S3 would need
    the bucket in the pages' ``form-action``. SameSite=Lax keeps other sites' images and scripts from
    sending the session; a top-level navigation only downloads what the person may download anyway."""
    from chalicelib.domain.downloads import catalog as fixes
    from chalicelib.routes.web import pages

    w = wiring.get()
    request = bp.current_request
    url = fixes.download_url(w.table, w.blobs, who, release_id, ip=source_ip(request),
                             user_agent=header(request, "user-agent"),
                             successor_href=lambda rid: f"{base()}/portal/fixes/{rid}/download")  # fmt: skip
    return pages.redirect(url)
