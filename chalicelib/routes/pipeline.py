"""Event handlers: upload verification, fan-out, delivery (SQS, one message per invocation), the reconciler,
contract changes (audience entries re-ranked, a page per message)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names, wiring
from chalicelib.routes import links

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.fanout import FanoutQueues

# The domain modules are imported in the handlers (see chalicelib.routes: cold start).

bp = Blueprint(__name__)
N = names.current()


def _messages(event: SQSEvent) -> Iterator[dict[str, Any]]:
    """Each record's message, with its ids (release, batch, account...) on every log line while it is handled."""
    from chalicelib.observability import message_context

    for record in event:
        message = json.loads(record.body)
        with message_context(message):
            yield message


def _queues() -> FanoutQueues:
    from chalicelib import fanout

    return fanout.FanoutQueues(fanout=N.fanout_queue, deliver=N.deliver_queue, critical=N.critical_queue)


@bp.on_sqs_message(queue=N.uploads_queue, batch_size=1)
def on_upload(event: SQSEvent) -> None:
    from chalicelib import releases
    from chalicelib.observability import logger

    w = wiring.get()
    for record in event:
        for s3_record in json.loads(record.body).get("Records", []):  # s3:TestEvent has none
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            with logger.append_context_keys(key=key):
                releases.verify_upload(w.table, w.blobs, w.queues, N.fanout_queue, key)


@bp.on_sqs_message(queue=N.fanout_queue, batch_size=1)
def on_fanout(event: SQSEvent) -> None:
    from chalicelib import announce_delivery, fanout, recall

    w = wiring.get()
    for message in _messages(event):
        if message.get("kind") == recall.RECALL:  # a yanked release's recall, planned page by page
            recall.plan_page(w.table, w.queues, _queues(), message)
        elif announce_delivery.plans(message):  # an announcement's notice (or its update, its cancellation)
            announce_delivery.plan_page(w.table, w.queues, _queues(), message)
        else:
            fanout.run(w.table, w.queues, _queues(), message)


def _deliver(event: SQSEvent, queue: str) -> None:
    from chalicelib import delivery
    from chalicelib.observability import flushing_metrics

    w = wiring.get()
    context = getattr(event, "context", None)  # Lambda's: the time left before the function's timeout
    deps = delivery.Deps(
        table=w.table, mailer=w.mailer, queues=w.queues, links=links(), link_days=w.settings.download_link_days,
        quota=w.quota, share=w.settings.send_share, region=w.settings.region,
        remaining_ms=context.get_remaining_time_in_millis if context is not None else None,
    )  # fmt: skip
    with flushing_metrics():
        for message in _messages(event):
            delivery.run(deps, message, queue=queue)


@bp.on_sqs_message(queue=N.deliver_queue, batch_size=1)
def on_deliver(event: SQSEvent) -> None:
    _deliver(event, N.deliver_queue)


@bp.on_sqs_message(queue=N.critical_queue, batch_size=1)
def on_deliver_critical(event: SQSEvent) -> None:
    _deliver(event, N.critical_queue)


@bp.schedule("rate(5 minutes)")
def reconcile_deliveries(event: object) -> None:
    from chalicelib import delivery

    w = wiring.get()
    delivery.reconcile(w.table, w.queues)


@bp.on_sqs_message(queue=N.accounts_queue, batch_size=1)
def on_account_change(event: SQSEvent) -> None:
    from chalicelib import accounts

    w = wiring.get()
    for message in _messages(event):
        accounts.sync_page(w.table, w.queues, N.accounts_queue, accounts.AccountChange.from_message(message))
