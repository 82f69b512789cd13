"""The catalogue of fixes: the releases a customer's account may download now (``GET /catalog`` and the
portal's fixes page), and the download of one of them from it, with the checks, audit record and
short-lived S3 redirect of an emailed link (``chalicelib.domain.downloads.clicks``).

No Scan: one Query of the release list's index per product of the contract (product and status as its
filter), products in turn; the cursor names the product and the position within it.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.entitlements import KINDS, decide, period_active
from chalicelib.domain.core.errors import Action, BadRequest, Forbidden, Gone, NotFound
from chalicelib.domain.core.models import Account, Release
from chalicelib.domain.core.queries import number

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Blobs
    from chalicelib.domain.downloads.ports import CatalogStore

FILTERS = ("product", "kind", "severity", "cursor", "limit")
_HINT = "If you think this is wrong, ask your support administrator or Customer Success Manager."


def _contract(table: CatalogStore, who: Identity) -> Account:
    account_id = who.require_customer()
    account = table.get_account(account_id)
    if account is None:
        raise Forbidden(f"Account {account_id} has no support contract.", code="no_contract", hint=_HINT)
    return account


def _where(params: dict[str, str], account: Account) -> tuple[list[str], dict[str, Any]]:
    v.reject_unknown(params, FILTERS)
    products = sorted(account.products)
    if params.get("product"):
        product = v.ident(params["product"], "product")
        if product not in account.products:
            raise Forbidden(
                f"Product {product} is not part of the support contract of account {account.account_id}.",
                code="product_not_in_contract",
                hint=_HINT,
            )
        products = [product]
    where: dict[str, Any] = {"status": "published"}
    if params.get("kind"):
        where["kind"] = v.choice(params, "kind", KINDS)
    if params.get("severity"):
        where["severity"] = v.integer({"severity": number(params["severity"])}, "severity", low=1, high=4)
    return products, where


def _cursor(raw: str, products: list[str]) -> tuple[int, str | None]:
    if not raw:
        return 0, None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        index, inner = products.index(data["p"]), data.get("c")
        if inner is not None and not isinstance(inner, str):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise BadRequest(
            "Query parameter 'cursor' is not a cursor this list gave out.", code="invalid_cursor"
        ) from None
    return index, inner


def _encode(product: str, inner: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": product, "c": inner}).encode()).rstrip(b"=").decode()


def item(r: Release) -> dict[str, Any]:
    return {
        "id": r.release_id,
        "product": r.product,
        "kind": r.kind,
        "severity": r.severity,
        "channel": r.channel,
        "version": r.version,
        "title": r.title,
        "summary": r.summary,
        "published_at": r.published_at,
        "filename": r.filename,
        "size": r.size,
        "sha256": r.sha256,
        "article_url": r.article_url,
        "superseded_by": r.superseded_by,
        "superseded_version": r.superseded_version,
    }


def page(table: CatalogStore, who: Identity, params: dict[str, str]) -> dict[str, Any]:
    """``GET /catalog``: newest first within each product of the contract; a page may hold fewer than
    ``limit`` items (releases the tier does not include are left out) while ``next`` is not null."""
    account = _contract(table, who)
    now = datetime.now(UTC)
    active = period_active(account.contract(), now)
    if not active:
        raise Forbidden(active.message, code=active.reason.value, hint=_HINT)
    products, where = _where(params, account)
    limit = int(v.integer({"limit": number(params.get("limit") or "50")}, "limit", low=1, high=100) or 50)
    index, inner = _cursor(params.get("cursor", ""), products)
    severity = where.pop("severity", None)
    items: list[dict[str, Any]] = []
    nxt: str | None = None
    while index < len(products) and len(items) < limit:
        found, inner = table.list_releases(
            {**where, "product": products[index]}, limit=limit - len(items), cursor=inner
        )
        items += [item(r) for r in found if (severity is None or r.severity == severity) and _entitled(account, r, now)]
        if inner is None:
            index += 1
        if len(items) >= limit:
            break
    if index < len(products):
        nxt = _encode(products[index], inner)
    return {"items": items, "next": nxt}


def _entitled(account: Account, r: Release, now: datetime) -> bool:
    return bool(decide(account.contract(), product=r.product, kind=r.kind, channel=r.channel, now=now))


def downloader(who: Identity) -> str:
    """Who the audit names for a download from the catalogue: the signed-in person, not a subscription."""
    return f"portal-{who.subject}"[:64]


def download_url(
    table: CatalogStore, blobs: Blobs, who: Identity, release_id: str, *, ip: str, user_agent: str, successor_href: Any
) -> str:
    """The same checks as an emailed link's click, at this moment; another account's or an unknown release
    is a 404. ``successor_href(release_id)``: where a withdrawn release's page points for its successor."""
    from chalicelib.domain.downloads.clicks import hand_out

    account_id = who.require_customer()
    try:
        rid = v.ident(release_id, "release_id")
    except BadRequest:
        rid = ""
    release, account, _, seen = (
        table.download_context(rid, account_id, downloader(who)) if rid else (None,) * 3 + (False,)
    )
    if release is None or account is None or release.product not in account.products or not release.object_key:
        raise NotFound(f"Release {release_id[:64]} does not exist.", code="not_found")
    if release.status == "yanked":
        raise _withdrawn(table, account, release, successor_href)
    if release.status != "published":
        raise NotFound(f"Release {release_id[:64]} does not exist.", code="not_found")
    decision = decide(
        account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=datetime.now(UTC)
    )
    if not decision:
        if decision.reason.value == "channel_not_entitled":
            raise NotFound(f"Release {release_id[:64]} does not exist.", code="not_found")
        raise Forbidden(decision.message, code=decision.reason.value, hint=_HINT)
    return hand_out(
        table,
        blobs,
        release,
        account,
        downloader=downloader(who),
        email=who.email,
        first=not seen,
        ip=ip,
        user_agent=user_agent,
    )


def _withdrawn(table: CatalogStore, account: Account, release: Release, successor_href: Any) -> Gone:
    successor = table.get_release(release.superseded_by) if release.superseded_by else None
    action = None
    if successor is not None and successor.status == "published" and _entitled(account, successor, datetime.now(UTC)):
        action = Action(f"Download version {successor.version}", successor_href(successor.release_id), method="GET")
    instead = f" It is superseded by {release.successor_name()}." if release.successor_name() else ""
    return Gone(
        f"This release was withdrawn: {release.reason or 'no reason given'}.{instead}",
        code="release_yanked",
        hint=f"Do not install it; look for a newer {release.product} release in your fixes or ask support.",
        action=action,
    )


def newest(table: CatalogStore, who: Identity, count: int = 5) -> list[dict[str, Any]]:
    """The home page's newest releases: the newest few of each product, newest first overall."""
    found = [
        r
        for p in sorted(_contract(table, who).products)
        for r in page(table, who, {"product": p, "limit": str(count)})["items"]
    ]
    return sorted(found, key=lambda r: str(r["published_at"] or ""), reverse=True)[:count]
