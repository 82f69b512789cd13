"""The digest schedule: every 15 minutes, the digests whose window has ended (docs/digests.md)."""

from __future__ import annotations

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes import link_maker

bp = Blueprint(__name__)


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
