"""The report's time-to-notice histogram: buckets of seconds after publishing, percentiles read from them."""

from __future__ import annotations

from chalicelib.domain.reports import release_report as reports


def test_a_bucket_is_the_smallest_edge_at_or_above_the_seconds() -> None:
    assert [reports.bucket(s) for s in (0, 0.4, 1, 1.01, 5, 5.5, 60)] == [1, 1, 1, 2, 5, 6, 70]
    assert reports.bucket(10**9) == reports.EDGES[-1]


def test_the_edges_grow_by_at_most_a_quarter_plus_a_second() -> None:
    for low, high in zip(reports.EDGES, reports.EDGES[1:], strict=False):
        assert high <= low * 1.25 + 1
    assert reports.EDGES[-1] > 7 * 86400


def test_percentiles_are_read_from_the_histogram() -> None:
    # GIVEN 100 acceptances: 90 within a second, 9 at 10 s, one at an hour
    histogram = {1: 90, reports.bucket(10): 9, reports.bucket(3600): 1}
    assert reports.percentile(histogram, 0.5) == 1
    assert reports.percentile(histogram, 0.95) == 10
    assert reports.percentile(histogram, 1.0) == reports.bucket(3600)
    assert reports.percentile({}, 0.5) is None


def test_a_percentile_between_two_acceptances_is_the_later_one() -> None:
    # GIVEN three acceptances, at 1 s, 2 s and 3 s: the median's rank is 1.5, so the second is the median
    histogram = {1: 1, 2: 1, 3: 1}
    assert reports.percentile(histogram, 0.5) == 2
    assert reports.percentile(histogram, 0.95) == 3  # rank 2.85: the third, not the second
    assert reports.percentile(histogram, 0.01) == 1


def test_acceptances_count_in_buckets_after_publishing() -> None:
    start = 1_700_000_000.0
    published = "2023-11-14T22:13:20Z"  # start
    got = reports.after_publishing(published, [start + 0.5, start + 0.9, start + 4.2, start - 3])
    assert got == {1: 3, 5: 1}  # a clock a little behind counts as the first second
    assert reports.after_publishing(None, [start]) == {}


def test_delivery_counts_count_each_record_as_delivery_tallies_it() -> None:
    records = [
        {"role": "subscriber", "status": "sent"},
        {"status": "sent"},  # a record without a role is a subscriber's
        {"role": "subscriber", "status": "failed"},
        {"role": "subscriber", "status": "skipped"},
        {"role": "subscriber", "status": "suppressed"},
        {"role": "subscriber", "status": "digest"},  # queued for a digest: not an outcome yet
        {"role": "oncall", "status": "sent"},
        {"role": "csm", "status": "sent"},
        {"role": "csm", "status": "failed"},
        {"role": "oncall", "status": "skipped"},
    ]
    assert reports.delivery_counts(records) == {
        "notified": 2, "failed": 1, "skipped": 1, "suppressed": 1, "oncall_copies": 1, "csm_copies": 1,
        "copies_failed": 1, "downloaded": 0, "downloaders": 0, "recalled": 0,
    }  # fmt: skip
    assert reports.delivery_counts([]) == dict.fromkeys(reports._COUNTS, 0)
