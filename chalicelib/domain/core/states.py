"""The closed sets of words the system stores and sends: the states of subscriptions, releases, delivery
records and claims, the roles of a notice's recipients, the callers' groups and the notice kinds.

Each is a ``StrEnum``: a member is the very string it stands for (``SubscriptionStatus.ACTIVE ==
"active"``), so the values in the table, in queue messages and on the wire are the words they always
were, while the code names them once and a typo fails at import instead of matching nothing. No AWS here,
nothing but the standard library: the route layer loads it at cold start.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # waiting for its confirmation click (double opt-in)
    ACTIVE = "active"  # confirmed: in the audience index
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"  # its address bounced or complained (feedback)


# A subscription that still holds its address (one per account and address).
HOLDING = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE)


class ReleaseStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting-upload"
    REJECTED = "rejected"  # the upload was not what was declared
    AVAILABLE = "available"  # verified (or an article), not published: a draft, or waiting to be published
    SCHEDULED = "scheduled"  # published by the schedule at notify_at
    PUBLISHED = "published"
    YANKED = "yanked"  # withdrawn: downloads answer 410, a recall goes out


class DeliveryStatus(StrEnum):
    """The outcome of one recipient's notice, as a delivery record and the counters keep it."""

    SENT = "sent"
    FAILED = "failed"  # rejected for good (or the message could not be built)
    SKIPPED = "skipped"  # no longer subscribed (or no longer wanting it) since fan-out
    SUPPRESSED = "suppressed"  # the address is on the suppression list
    RETRY = "retry"  # not sent yet: a new batch takes it over
    DIGEST = "digest"  # queued for a digest window; its digest's marker says how it went (store/digested.py)
    LEFT_OUT = "left-out"  # queued for a digest that went out without it (yanked meanwhile): not notified


class ClaimStatus(StrEnum):
    """What claiming a delivery batch or a fan-out page found."""

    CLAIMED = "claimed"  # this invocation holds it now
    DONE = "done"  # finished earlier
    BUSY = "busy"  # another invocation holds its lease
    FAILED = "failed"  # given up, its error kept (batches only)
    EXHAUSTED = "exhausted"  # claimed as often as allowed, never finished (timeouts, kills; batches only)


class Role(StrEnum):
    """Who a recipient of a notice is for its account."""

    SUBSCRIBER = "subscriber"
    ONCALL = "oncall"  # the contract's on-call contact (severity-1 notices outside business hours)
    CSM = "csm"  # an Elite account's Customer Success Manager


class Group(StrEnum):
    """A caller's group, as the identity provider's token names it (``cognito:groups``)."""

    CUSTOMER = "customer"
    RELEASE_ENGINEERS = "release-engineers"
    SUPPORT_ADMINS = "support-admins"


class Notice(StrEnum):
    """The kinds of email a release sends its audience (also the kind of fan-out message that plans one)."""

    RELEASE = "release"  # a release's notice
    RECALL = "recall"  # a yanked release's recall
    ANNOUNCE = "announce"  # an announcement's calendar invitation (Elite's advance notice)
    ANNOUNCE_UPDATE = "announce-update"  # its move: one notice per revision, "announce-update.<sequence>"
    ANNOUNCE_CANCEL = "announce-cancel"  # its cancellation


# Notices that go to whoever got the first one, whatever their preferences are now (unless they left).
FOLLOW_UPS = frozenset({Notice.RECALL, Notice.ANNOUNCE_UPDATE, Notice.ANNOUNCE_CANCEL})


def notice_kind(notice: str) -> Notice:
    """The kind of a notice (``announce-update.2`` is an ``announce-update``); ``ValueError`` for none."""
    return Notice(notice.partition(".")[0])
