"""The product catalog: the products support admins keep and every caller may list."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import body_of, handled, identity_of, json_response

bp = Blueprint(__name__)


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
