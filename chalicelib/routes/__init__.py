"""HTTP routes and event handlers as Chalice blueprints, one per area; ``app.py`` registers them.

Each route is a decorator and one call into the domain modules, wrapped by ``http.handled`` so domain
errors become their status code.

Cold start: every Lambda function of the app imports ``app.py`` and so every module here, but each
function serves only some of the routes. So a route imports its domain module (and through it boto3,
Powertools, MIME, ...) inside the handler, where Python caches it after the first call; at module level
these files import only what registering the routes needs. ``tests/unit/test_cold_start.py`` keeps it so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import wiring

if TYPE_CHECKING:
    from chalice.app import SQSEvent

    from chalicelib.domain.access.links import LinkMaker
    from chalicelib.domain.access.tokens import KeyRing


def link_maker(ring: KeyRing | None = None) -> LinkMaker:
    from chalicelib.domain.access.links import LinkMaker

    w = wiring.get()
    return LinkMaker(ring=ring or w.keys.ring(), base_url=w.settings.public_base_url)


def traced_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every event type: each invocation is one X-Ray subsegment, and an API
    request's log lines carry its API Gateway request id (the access log's), route and caller's account."""
    from chalicelib.observability import logger, traced

    lambda_context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    name = str(getattr(lambda_context, "function_name", "") or type(event).__name__)
    request: Any = getattr(event, "context", None)
    keys: dict[str, Any] = {}
    if isinstance(request, dict):  # an HTTP request: API Gateway's request context
        authorizer = request.get("authorizer") or {}
        keys = {
            "request_id": request.get("requestId"),
            "route": request.get("resourcePath"),
            "account_id": authorizer.get("account_id") or None,
        }
    with logger.append_context_keys(**{k: v for k, v in keys.items() if v}):
        return traced(name, lambda: get_response(event))


def sqs_messages(event: SQSEvent) -> Iterator[dict[str, Any]]:
    """Each record's message as JSON, with its ids (release, batch, account...) on every log line while it is
    handled. A body that is not a JSON object raises ``MalformedMessage``: the record is poison (the DLQ)."""
    from chalicelib.domain.core.messages import MalformedMessage
    from chalicelib.observability import message_context

    for record in event:
        try:
            message = json.loads(record.body)
        except ValueError as exc:
            raise MalformedMessage(f"message body is not JSON ({exc})") from exc
        if not isinstance(message, dict):
            raise MalformedMessage(f"message body must be a JSON object, got {type(message).__name__}")
        with message_context(message):
            yield message
