"""The CSM's review of an Elite account (``GET /accounts/{id}/review`` and its schedule) and the daily
warnings before a support period ends."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint  # type: ignore[attr-defined]

from chalicelib.adapters import wiring
from chalicelib.routes.auth import jwt_auth
from chalicelib.routes.http import handled, identity_of, json_response

bp = Blueprint(__name__)
# Per stage in .chalice/config.json (decorators need them at import). The review runs daily by default and
# sends each account's review of the period just ended once, so a day whose run failed is caught up the next.
REVIEW_SCHEDULE = os.environ.get("PATCHCAST_REVIEW_SCHEDULE") or "cron(0 6 * * ? *)"
WARNING_SCHEDULE = os.environ.get("PATCHCAST_WARNING_SCHEDULE") or "cron(0 7 * * ? *)"


def _remaining(event: Any) -> Any:
    context = getattr(event, "context", None)  # Lambda's: the time left before the function's timeout
    return getattr(context, "get_remaining_time_in_millis", None)


@bp.route("/accounts/{account_id}/review", methods=["GET"], authorizer=jwt_auth)
@handled(bp)
def account_review(account_id: str) -> Any:
    from chalicelib.domain.accounts import periods, review

    w = wiring.get()
    request = bp.current_request
    account = review.reviewable(w.table, identity_of(request), account_id)
    now = datetime.now(UTC)
    period = periods.requested(dict(request.query_params or {}), spec=w.settings.review_period, now=now)
    return json_response(review.build(w.table, account, period, now=now))


@bp.schedule(REVIEW_SCHEDULE)
def review_reports(event: object) -> None:
    from chalicelib.domain.accounts import review

    w = wiring.get()
    review.run(w.table, w.mailer, spec=w.settings.review_period, remaining_ms=_remaining(event))


@bp.schedule(WARNING_SCHEDULE)
def support_warnings(event: object) -> None:
    from chalicelib.domain.accounts import support_warnings as renewal

    w = wiring.get()
    renewal.run(w.table, w.mailer, remaining_ms=_remaining(event))
