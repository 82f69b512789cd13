"""SES feedback through SNS: bounces and complaints (configuration set event destination in AWS,
the identity's notification topic in the local stack)."""

from __future__ import annotations

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SNSEvent

from chalicelib import names, wiring

bp = Blueprint(__name__)
N = names.current()


@bp.on_sns_message(topic=N.feedback_topic)
def on_feedback(event: SNSEvent) -> None:
    from chalicelib import feedback

    feedback.handle(wiring.get().table, event.message)
