"""SES feedback: bounces and complaints, from the feedback topic through its SQS queue (configuration set
event destination in AWS, the identity's notification topic in the local stack). The queue retries a
failed invocation and keeps the message in its DLQ, so no bounce is lost. And support's lifting of the
suppressions feedback records."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names
from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import handled, identity_of, json_response

bp = Blueprint(__name__)
N = names.current()


@bp.on_sqs_message(queue=N.feedback_queue, batch_size=1)
def on_feedback(event: SQSEvent) -> None:
    from chalicelib.domain.subscriptions import feedback

    for record in event:  # raw delivery: the body is SES's JSON itself
        feedback.handle(wiring.get().table, record.body)


@bp.route("/suppressions/{email}", methods=["DELETE"], authorizer=jwt_auth)
@handled(bp)
def lift_suppression(email: str) -> Any:
    from chalicelib.domain.subscriptions import confirmations

    return json_response(confirmations.lift(wiring.get().table, identity_of(bp.current_request), email))
