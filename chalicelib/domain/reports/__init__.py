"""A release's report: the counters per tier, role and status, time to notice (``release_report``), and the page
release engineers read, with its chart (``page``).

Uses: ``core``.
"""
