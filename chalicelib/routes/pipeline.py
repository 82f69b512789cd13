"""The release pipeline's event handlers: upload verification, fan-out, delivery (SQS, one message per
invocation) and the reconciler of stuck batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names
from chalicelib.adapters import wiring
from chalicelib.routes import link_maker, sqs_messages

if TYPE_CHECKING:
    pass

# The domain modules are imported in the handlers (see chalicelib.routes: cold start).

bp = Blueprint(__name__)
N = names.current()


@bp.on_sqs_message(queue=N.uploads_queue, batch_size=1)
def on_upload(event: SQSEvent) -> None:
    from chalicelib.domain.core.messages import uploaded_keys
    from chalicelib.domain.releases import publishing
    from chalicelib.observability import logger

    w = wiring.get()
    for message in sqs_messages(event):
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
    for message in sqs_messages(event):
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
        for message in sqs_messages(event):
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
