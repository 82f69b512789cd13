"""Event handlers: upload verification, fan-out, delivery (SQS, one message per invocation), the reconciler,
contract changes (audience entries re-ranked, a page per message)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names
from chalicelib.adapters import wiring
from chalicelib.routes import link_maker

if TYPE_CHECKING:
    from collections.abc import Iterator

# The domain modules are imported in the handlers (see chalicelib.routes: cold start).

bp = Blueprint(__name__)
N = names.current()


def _messages(event: SQSEvent) -> Iterator[dict[str, Any]]:
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


@bp.on_sqs_message(queue=N.uploads_queue, batch_size=1)
def on_upload(event: SQSEvent) -> None:
    from chalicelib.domain.core.messages import uploaded_keys
    from chalicelib.domain.releases import publishing
    from chalicelib.observability import logger

    w = wiring.get()
    for message in _messages(event):
        for key in uploaded_keys(message):  # S3's ObjectCreated, or ours once the SHA-256 is declared
            with logger.append_context_keys(key=key):
                publishing.verify_upload(w.table, w.blobs, w.queues, key)


@bp.on_sqs_message(queue=N.fanout_queue, batch_size=1)
def on_fanout(event: SQSEvent) -> None:
    from chalicelib.domain.announcements import delivery as announce_delivery
    from chalicelib.domain.core.messages import FanoutPage
    from chalicelib.domain.fanout import pages as fanout
    from chalicelib.domain.releases import recall

    w = wiring.get()
    for message in _messages(event):
        page = FanoutPage.from_json(message)
        if page.kind == recall.RECALL:  # a yanked release's recall, planned page by page
            recall.run_page(w.table, w.queues, page)
        elif announce_delivery.plans(page):  # an announcement's notice (or its update, its cancellation)
            announce_delivery.plan_page(w.table, w.queues, page)
        else:
            fanout.run(w.table, w.queues, page)


def _deliver(event: SQSEvent, *, critical: bool) -> None:
    from chalicelib.domain.core.messages import DeliveryBatch
    from chalicelib.domain.delivery import batch as delivery
    from chalicelib.observability import flushing_metrics

    w = wiring.get()
    context = getattr(event, "context", None)  # Lambda's: the time left before the function's timeout
    deps = delivery.Deps(
        table=w.table,
        mailer=w.mailer,
        queues=w.queues,
        urls=link_maker(),
        link_days=w.settings.download_link_days,
        quota=w.quota,
        share=w.settings.send_share,
        region=w.settings.region,
        remaining_ms=context.get_remaining_time_in_millis if context is not None else None,
    )
    with flushing_metrics():
        for message in _messages(event):
            delivery.run(deps, DeliveryBatch.from_json(message), critical=critical)


@bp.on_sqs_message(queue=N.deliver_queue, batch_size=1)
def on_deliver(event: SQSEvent) -> None:
    _deliver(event, critical=False)


@bp.on_sqs_message(queue=N.critical_queue, batch_size=1)
def on_deliver_critical(event: SQSEvent) -> None:
    _deliver(event, critical=True)


@bp.schedule("rate(5 minutes)")
def reconcile_deliveries(event: object) -> None:
    from chalicelib.domain.delivery import reconcile as delivery_reconcile

    w = wiring.get()
    delivery_reconcile.reconcile(w.table, w.queues)


@bp.schedule("rate(15 minutes)")
def send_digests(event: object) -> None:
    from chalicelib.domain.digests import run as digest_run

    w = wiring.get()
    context = getattr(event, "context", None)
    digest_run.run(
        digest_run.DigestDeps(
            table=w.table,
            mailer=w.mailer,
            urls=link_maker(),
            link_days=w.settings.download_link_days,
            quota=w.quota,
            share=w.settings.send_share,
            remaining_ms=context.get_remaining_time_in_millis if context is not None else None,
        )
    )


@bp.on_sqs_message(queue=N.accounts_queue, batch_size=1)
def on_account_change(event: SQSEvent) -> None:
    from chalicelib.domain.accounts import contracts as accounts
    from chalicelib.domain.core.messages import AccountChange

    w = wiring.get()
    for message in _messages(event):
        accounts.sync_page(w.table, w.queues, AccountChange.from_json(message))
