"""SES feedback: bounces and complaints, from the feedback topic through its SQS queue (configuration set
event destination in AWS, the identity's notification topic in the local stack). The queue retries a
failed invocation and keeps the message in its DLQ, so no bounce is lost."""

from __future__ import annotations

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names, wiring

bp = Blueprint(__name__)
N = names.current()


@bp.on_sqs_message(queue=N.feedback_queue, batch_size=1)
def on_feedback(event: SQSEvent) -> None:
    from chalicelib import feedback

    for record in event:  # raw delivery: the body is SES's JSON itself
        feedback.handle(wiring.get().table, record.body)
