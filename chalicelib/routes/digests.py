"""Digests (docs/digests.md): the schedule every 15 minutes enqueues the due windows' pages; the digest queue's
handler plans a page into batches, or sends a batch."""

from __future__ import annotations

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names
from chalicelib.adapters import wiring
from chalicelib.routes import link_maker, sqs_messages

bp = Blueprint(__name__)
N = names.current()


@bp.schedule("rate(15 minutes)")
def send_digests(event: object) -> None:
    from chalicelib.domain.digests import plan, run

    w = wiring.get()
    plan.schedule(w.table, w.queues, run.clock())


@bp.on_sqs_message(queue=N.digest_queue, batch_size=1)
def on_digest(event: SQSEvent) -> None:
    from chalicelib.domain.digests import plan, run
    from chalicelib.domain.digests.messages import DigestWork

    w = wiring.get()
    context = getattr(event, "context", None)  # Lambda's: the time left before the function's timeout
    for message in sqs_messages(event):
        work = DigestWork.from_json(message)
        if work.batch_id is None:
            plan.plan_page(w.table, w.queues, work)
            continue
        deps = run.DigestDeps(
            table=w.table,
            mailer=w.mailer,
            queues=w.queues,
            urls=link_maker(),
            link_days=w.settings.download_link_days,
            quota=w.quota,
            share=w.settings.send_share,
            remaining_ms=context.get_remaining_time_in_millis if context is not None else None,
        )
        run.run(deps, work)
