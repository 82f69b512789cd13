"""The vendor's tier matrix (``GET /tiers``) and a customer's row of it (``GET /entitlements``)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import handled, identity_of, json_response

bp = Blueprint(__name__)


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
