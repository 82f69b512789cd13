"""Digests: a subscription's per-severity choice of instant notices or a daily or weekly digest and the windows in
the account's time zone (``windows``), the digest email (``mail``), the schedule and pages that fan due windows out
(``plan``) into batches on the digest queue (``messages``), a batch sent exactly once (``run``), one digest
(``send``) and what it lists at send time (``choose``), and how digests are recorded (``chunk``).

Uses: ``core``, ``access``, ``mail``, ``reports``, ``delivery`` (its re-check and batch limits).
"""
