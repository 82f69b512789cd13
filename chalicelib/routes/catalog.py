"""Health, the tier matrix, the product catalog, support contracts and a customer's entitlements."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.domain.access.auth import SUPPORT_ADMINS
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import body_of, handled, identity_of, json_response, query_param

bp = Blueprint(__name__)
_OPENAPI = Path(__file__).resolve().parent.parent / "openapi.json"


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3 document, shipped beside the code (a test keeps it equal to the routes)."""
    doc: dict[str, Any] = json.loads(_OPENAPI.read_text())
    return doc


@bp.route("/health", methods=["GET"])
@handled(bp)
def health() -> Any:
    wiring.get().table.ping()
    return json_response({"status": "ok"})


@bp.route("/tiers", methods=["GET"])
@handled(bp)
def tiers() -> Any:
    from chalicelib.domain.core import entitlements

    return json_response({"tiers": entitlements.matrix()})


@bp.route("/entitlements", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def get_entitlements() -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    return json_response(accounts.entitlements_of(wiring.get().table, identity_of(bp.current_request)))


@bp.route("/openapi.json", methods=["GET"])
@handled(bp)
def openapi() -> Any:
    return json_response(openapi_document())


@bp.route("/products/{product_id}", methods=["PUT"], authorizer=jwt_auth)
@handled(bp)
def put_product(product_id: str) -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    request = bp.current_request
    product = accounts.upsert_product(wiring.get().table, identity_of(request), product_id, body_of(request))
    return json_response(product.public())


@bp.route("/products", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_products() -> Any:
    identity_of(bp.current_request)
    return json_response({"products": [p.public() for p in wiring.get().table.list_products()]})


@bp.route("/accounts/{account_id}", methods=["PUT"], authorizer=jwt_auth)
@handled(bp)
def put_account(account_id: str) -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    w, request = wiring.get(), bp.current_request
    account, changed = accounts.put_account(w.table, w.queues, identity_of(request), account_id, body_of(request))
    return json_response({**account.public(), "changed": changed})


@bp.route("/accounts", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_accounts() -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    identity_of(bp.current_request).require_group(SUPPORT_ADMINS)
    request = bp.current_request
    return json_response(
        accounts.list_page(
            wiring.get().table, cursor=query_param(request, "cursor"), limit=query_param(request, "limit")
        )
    )


@bp.route("/accounts/{account_id}", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def get_account(account_id: str) -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    return json_response(
        accounts.readable_account(wiring.get().table, account_id, identity_of(bp.current_request)).public()
    )
