"""The JWT authorizer every authenticated route names, and the middleware that gives Chalice's own
refusals (405, 415, ...) our error shape."""

from __future__ import annotations

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import AuthRequest, AuthResponse

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import Unauthorized
from chalicelib.routes import traced_invocation
from chalicelib.routes.http import our_error_shape

bp = Blueprint(__name__)
bp.register_middleware(traced_invocation, "all")  # first registered, outermost: the trace spans the rest
bp.register_middleware(our_error_shape, "http")


@bp.authorizer(ttl_seconds=0)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    """Verified claims go to the route as context. A bad token is still let through to the route,
    marked with ``auth_error``, so that the route answers 401 in our error format (API Gateway and
    ``chalice local`` would otherwise answer with their own bodies); ``http.identity_of`` refuses it.
    Chalice's middleware does not wrap authorizers: the trace is opened here."""
    from chalicelib.observability import traced

    return traced("jwt_auth", lambda: _authorize(auth_request))


def _authorize(auth_request: AuthRequest) -> AuthResponse:
    try:
        who = wiring.get().verifier.verify(auth_request.token)
    except Unauthorized as err:
        return AuthResponse(routes=["*"], principal_id="anonymous", context={"auth_error": err.message})
    except Exception:  # a JWKS outage must not become an open door, nor a crash
        from chalicelib.observability import logger

        logger.exception("token verification failed")
        return AuthResponse(
            routes=["*"], principal_id="anonymous", context={"auth_error": "The token could not be verified now."}
        )
    return AuthResponse(routes=["*"], principal_id=who.subject, context=who.context())
