"""The DynamoDB table adapter: the only place that builds keys or speaks DynamoDB.

One table, ``PK``/``SK`` plus two sparse indexes. Access patterns, each a GetItem, Query or batch,
never a Scan:

=====================================  ==============================================================
pattern                                key
=====================================  ==============================================================
product by id / the catalog            PK=CATALOG, SK=PRODUCT#<id> (Query PK=CATALOG)
contract of an account                 PK=ACCOUNT#<id>, SK=CONTRACT (BatchGet for a fan-out page)
every contract, by account id          GSI1: GSI1PK=CONTRACTS, GSI1SK=<id> (on the contract item; Query
                                       with Limit, cursor after the last id: GET /accounts)
an account's subscriptions             PK=ACCOUNT#<id>, SK begins_with SUB#
one subscription                       PK=ACCOUNT#<id>, SK=SUB#<sub>
one subscription per address           PK=ACCOUNT#<id>, SK=ADDRESS#<normalised address> (names its subscription;
                                       written with the pending one in one transaction, TTL expires_at until
                                       confirmed, deleted with it or when it is unsubscribed or suppressed)
audience of a product, tier order      GSI1: GSI1PK=AUDIENCE#<product>, GSI1SK=<rank>#<account>#<sub>
                                       (one item per active subscription and product, SK=SUB#<sub>#P#<product>)
subscriptions of an address            GSI2: GSI2PK=EMAIL#<address> (feedback: bounces, complaints)
suppressed address                     PK=SUPPRESSED#<address>, SK=SUPPRESSION (BatchGet: ``suppressed()``)
a lifted suppression (audit)           PK=SUPPRESSED#<address>, SK=LIFTED#<time>#<n> (Query begins_with)
confirmations sent to an address       PK=CONFIRMS_TO#<address, lower case>, SK=CONFIRMS (recent send times,
                                       rev-guarded, written in the subscription's transaction; TTL)
confirmations sent for an account      PK=CONFIRMS_BY#<account>, SK=CONFIRMS (likewise)
transient bounces of an address         PK=BOUNCES#<address>, SK=TRANSIENT (a counter, TTL 90 days)
release by id                          PK=RELEASE#<id>, SK=RELEASE (its <notice>_queueing / <notice>_at:
                                       the first fan-out page of a notice queued once)
product + kind + version is unique     PK=RELEASEKEY#<product>#<kind>#<version>, SK=RELEASEKEY
releases, newest first (the list)      GSI2: GSI2PK=RELEASES, GSI2SK=<created_at>#<id> on every release item
                                       (Query backwards; created between is the key condition, product,
                                       status, kind and published between a filter; one partition: releases
                                       are made a few a day)
releases due for publishing            GSI1: GSI1PK=SCHEDULE, GSI1SK=<notify_at>#<id> (while scheduled)
fan-out page claim                     PK=RELEASE#<id>, SK=PAGE#<notice>#<page> (lease; done when the
                                       next page's claim exists, or done_at on the last page)
delivery batch claim                   PK=RELEASE#<id>, SK=BATCH#<notice>#<batch> (holds its message;
                                       Query begins_with BATCH#, filtered on failed_at: the given-up ones)
claimed batches not finished           GSI1: GSI1PK=INFLIGHT, GSI1SK=<next check epoch>#<id>#<batch>
                                       (while claimed; the reconciler queries the expired ones)
a notice's delivery to a recipient      PK=RELEASE#<id>, SK=DELIVERY#<notice>#<account>#<sub>#<role>
                                       (notice: release, recall, …; Query begins_with to inspect;
                                       begins_with …#<account># for one account's, the CSM copy)
download audit                         PK=RELEASE#<id>, SK=DOWNLOAD#<time>#<n> (Query begins_with)
a subscriber downloaded a release      PK=RELEASE#<id>, SK=DOWNLOADER#<account>#<sub> (click's BatchGet)
a release's report counters            PK=RELEASE#<id>, SK=TALLY#<notice>#<shard> (BatchGet all shards)
fresh-link email, one per window       PK=RELEASE#<id>, SK=RELINK#<account>#<sub> (TTL expires_at)
a notice's deliveries, page by page    PK=RELEASE#<id>, SK begins_with DELIVERY#<notice>#, Limit + cursor
                                       (recall planning: one page per fan-out message)
the notice a recall replies to         PK=RELEASE#<id>, SK=DELIVERY#release#<recipient> (BatchGet, with
                                       the successor release and contracts: ``recall_context``)
digest items, markers, runner cursor    see chalicelib/adapters/store/digests.py (PK=DIGEST#<window bucket>)
digests due, schedule cursor, batches   see chalicelib/adapters/store/digest_due.py (PK=DIGESTS)
announcement by id                     PK=RELEASE#<an-id>, SK=ANNOUNCEMENT (its page claims, batch claims
                                       and delivery records beside it, as a release's: store/announcements.py)
product + version announced once       PK=ANNOUNCEKEY#<product>#<version>, SK=ANNOUNCEKEY (deleted on cancel)
announcements, newest first            GSI2: GSI2PK=ANNOUNCEMENTS, GSI2SK=<created_at>#<id>
a product's announcements              GSI1: GSI1PK=ANNOUNCED#<product>, GSI1SK=<planned_for>#<id>
one tier's audience of a product       GSI1: GSI1PK=AUDIENCE#<product>, GSI1SK begins_with <rank>#
contracts by support end date          GSI2: GSI2PK=SUPPORTEND, GSI2SK=<support_end>#<id> (on the contract
                                       item; for operators: the warnings read the due index below)
one account's part of a release        PK=RELEASE#<id>, SK begins_with DELIVERY#<notice>#<account># and
                                       DOWNLOADER#<account># (the review; markers hold first click and count)
a review or warning sent once          PK=ACCOUNT#<id>, SK=ONCE#<review or warning key> (lease, addresses
                                       sent, done_at)
a portal session                       PK=SESSION#<SHA-256 of the cookie's id>, SK=SESSION (ID and refresh
                                       token, TTL expires_at; deleted at sign-out: store/sessions.py)
a sign-in code used once               PK=CODE#<code id>, SK=USED (conditional put; TTL the code's expiry)
an account's next review / warning     PK=ACCOUNT#<id>, SK=DUE#<review|warning>; GSI1: GSI1PK=DUE#<kind>,
                                       GSI1SK=<due, UTC>#<id> (Query up to now: what is due; store/due.py)
=====================================  ==============================================================
"""

from __future__ import annotations

from chalicelib.adapters.store._base import decode_cursor, encode_cursor
from chalicelib.adapters.store.announcements import AnnouncementsMixin
from chalicelib.adapters.store.audience import AudienceMixin
from chalicelib.adapters.store.batch_claims import BatchClaimsMixin
from chalicelib.adapters.store.bulk import BulkMixin
from chalicelib.adapters.store.catalog import CatalogMixin
from chalicelib.adapters.store.confirmations import ConfirmationsMixin
from chalicelib.adapters.store.deliveries import DeliveriesMixin
from chalicelib.adapters.store.digests import DigestsMixin
from chalicelib.adapters.store.downloads import DownloadsMixin
from chalicelib.adapters.store.due import DueMixin
from chalicelib.adapters.store.fanout_claims import FanoutClaimsMixin
from chalicelib.adapters.store.release_index import ReleaseIndexMixin
from chalicelib.adapters.store.releases import ReleasesMixin
from chalicelib.adapters.store.reports import ReportsMixin
from chalicelib.adapters.store.reviews import ReviewsMixin
from chalicelib.adapters.store.sessions import SessionsMixin
from chalicelib.adapters.store.subscriptions import SubscriptionsMixin
from chalicelib.adapters.store.suppressions import SuppressionsMixin

__all__ = ["Table", "decode_cursor", "encode_cursor"]


class Table(
    CatalogMixin,
    SuppressionsMixin,
    SubscriptionsMixin,
    AudienceMixin,
    ReleasesMixin,
    ReleaseIndexMixin,
    FanoutClaimsMixin,
    BatchClaimsMixin,
    DeliveriesMixin,
    DownloadsMixin,
    ReportsMixin,
    ReviewsMixin,
    BulkMixin,
    ConfirmationsMixin,
    DigestsMixin,
    AnnouncementsMixin,
    SessionsMixin,
    DueMixin,
):
    """The one table; each part (mixin) serves the access patterns above for its records."""
