"""Support contracts: ``/accounts`` (support admins load them; a customer reads its own), a contract change's
audience re-rank (the accounts queue), the CSM's review of an Elite account (``GET /accounts/{id}/review`` and
its schedule) and the warnings before a support period ends: the schedules plan what is due, ``on_scheduled``
sends it in paced batches (docs/reviews.md)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]
from chalice.app import SQSEvent

from chalicelib import names
from chalicelib.adapters import wiring
from chalicelib.domain.access.auth import SUPPORT_ADMINS
from chalicelib.routes import sqs_messages
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import body_of, handled, identity_of, json_response, query_param

bp = Blueprint(__name__)
N = names.current()
# Per stage in .chalice/config.json (decorators need them at import). Hourly: what is due is due at an hour
# of the account's own zone (docs/reviews.md), and a run reads only the due index, so an idle hour costs a Query.
REVIEW_SCHEDULE = os.environ.get("PATCHCAST_REVIEW_SCHEDULE") or "cron(0 * * * ? *)"
WARNING_SCHEDULE = os.environ.get("PATCHCAST_WARNING_SCHEDULE") or "cron(0 * * * ? *)"


@bp.route("/accounts/{account_id}", methods=["PUT"], authorizer=jwt_auth)
@handled(bp)
def put_account(account_id: str) -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    w, request = wiring.get(), bp.current_request
    account, changed, created = accounts.put_account(
        w.table, w.queues, identity_of(request), account_id, body_of(request)
    )
    return json_response({**account.public(), "changed": changed, "created": created})


@bp.route("/accounts", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def list_accounts() -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    identity_of(bp.current_request).require_group(SUPPORT_ADMINS)
    request = bp.current_request
    return json_response(
        accounts.list_page(
            wiring.get().table, cursor=query_param(request, "cursor"), limit=query_param(request, "limit")
        )
    )


@bp.route("/accounts/{account_id}", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def get_account(account_id: str) -> Any:
    from chalicelib.domain.accounts import contracts as accounts

    return json_response(
        accounts.readable_account(wiring.get().table, account_id, identity_of(bp.current_request)).public()
    )


@bp.route("/accounts/{account_id}/review", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def account_review(account_id: str) -> Any:
    from chalicelib.domain.accounts import periods, review

    w = wiring.get()
    request = bp.current_request
    account = review.reviewable(w.table, identity_of(request), account_id)
    now = datetime.now(UTC)
    params = dict(request.query_params or {})
    period = periods.requested(params, spec=w.settings.review_period, now=now, tz=account.timezone)
    return json_response(review.build(w.table, account, period, now=now))


@bp.schedule(REVIEW_SCHEDULE)
def review_reports(event: object) -> None:
    from chalicelib.domain.accounts import due, scheduled

    w = wiring.get()
    scheduled.plan(w.table, w.queues, due.REVIEW, datetime.now(UTC))


@bp.schedule(WARNING_SCHEDULE)
def support_warnings(event: object) -> None:
    from chalicelib.domain.accounts import due, scheduled

    w = wiring.get()
    scheduled.plan(w.table, w.queues, due.WARNING, datetime.now(UTC))


@bp.on_sqs_message(queue=N.scheduled_queue, batch_size=1)
def on_scheduled(event: SQSEvent) -> None:
    from chalicelib.domain.accounts import scheduled
    from chalicelib.domain.accounts.due import ScheduledBatch
    from chalicelib.observability import flushing_metrics

    w = wiring.get()
    context = getattr(event, "context", None)  # Lambda's: the time left before the function's timeout
    deps = scheduled.Deps(
        table=w.table,
        queues=w.queues,
        mailer=w.mailer,
        quota=w.quota,
        share=w.settings.send_share,
        spec=w.settings.review_period,
        remaining_ms=context.get_remaining_time_in_millis if context is not None else None,
    )
    with flushing_metrics():
        for message in sqs_messages(event):
            scheduled.run(deps, ScheduledBatch.from_json(message))


@bp.on_sqs_message(queue=N.accounts_queue, batch_size=1)
def on_account_change(event: SQSEvent) -> None:
    from chalicelib.domain.accounts import contracts as accounts
    from chalicelib.domain.core.messages import AccountChange

    w = wiring.get()
    for message in sqs_messages(event):
        accounts.sync_page(w.table, w.queues, AccountChange.from_json(message))
