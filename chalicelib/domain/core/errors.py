"""Domain exceptions. Adapters raise these (translating AWS error codes); ``http.py`` maps them to status codes."""

from __future__ import annotations

from dataclasses import dataclass


class PatchcastError(Exception):
    """Base of every error a user can be told about: ``code`` is stable, ``message`` is for people."""

    code = "error"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, hint: str | None = None, action: Action | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # what the person can do next, shown under the message
        self.action = action  # a button on the HTML page (and its target in the JSON body)
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class Action:
    """A next step a refusal page offers: a button that POSTs to ``href`` (an absolute URL on our API), or
    with ``method="GET"`` a link to it."""

    label: str
    href: str
    method: str = "POST"


class BadRequest(PatchcastError):
    code = "bad_request"
    status = 400


class InvalidFields(BadRequest):
    """Several fields of one request are wrong: ``fields`` lists each (``field``, ``error``, ``message``), so
    that a person fixes them all at once."""

    def __init__(self, message: str, *, code: str, fields: list[dict[str, str]]) -> None:
        super().__init__(message, code=code)
        self.fields = fields


class Unauthorized(PatchcastError):
    code = "unauthorized"
    status = 401


class Forbidden(PatchcastError):
    code = "forbidden"
    status = 403


class NotFound(PatchcastError):
    code = "not_found"
    status = 404


class Conflict(PatchcastError):
    code = "conflict"
    status = 409


class Gone(PatchcastError):
    code = "gone"
    status = 410


class TooManyRequests(PatchcastError):
    code = "too_many_requests"
    status = 429


class RateLimited(TooManyRequests):
    """Refused until ``retry_after`` seconds from now (the ``Retry-After`` header)."""

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(PatchcastError):
    code = "service_unavailable"
    status = 503


class AlreadyExists(Conflict):
    code = "already_exists"


class AlreadySubscribed(Conflict):
    """The account already has a pending or active subscription of the address; ``subscription_id`` names it."""

    code = "already_subscribed"

    def __init__(self, subscription_id: str) -> None:
        super().__init__(
            f"This address already has subscription {subscription_id} in this account; "
            f"change it with PATCH /subscriptions/{subscription_id} instead of subscribing again."
        )
        self.subscription_id = subscription_id


class AddressSuppressed(Conflict):
    """SES reported a permanent bounce or a complaint for the address: nothing is sent to it until support lifts it."""

    code = "address_suppressed"

    def __init__(self, reason: str) -> None:
        why = "a complaint (marked as spam)" if reason == "complaint" else "a permanent bounce"
        super().__init__(
            f"No email is sent to this address since {why} was reported for it. Once the address can receive mail "
            "again, ask Patchcast support to lift the suppression (DELETE /suppressions/{email}), then subscribe it "
            "again: a new confirmation email is sent."
        )


class TransientError(Exception):
    """An infrastructure fault worth retrying (throttling, timeouts); never shown to users."""


class Throttled(TransientError):
    """SES asked us to slow down or failed transiently: send again later."""


class Paused(Throttled):
    """SES sending is paused for the whole account: nothing can go out until it is resumed."""


class Rejected(Exception):
    """SES refused this message for good (bad address, rejected content): record it, never retry."""


class CountersMoved(Conflict):
    """A guard of a confirmation's transaction failed: a counter moved since it was read, or the address was
    suppressed meanwhile. Read again and decide again."""

    code = "confirmations_raced"
