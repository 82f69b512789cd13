"""Digests: a subscription's per-severity choice of instant notices or a daily or weekly digest and the windows in
the account's time zone (``windows``), the digest email (``mail``), what a digest lists when it is sent
(``choose``), the schedule that sends what is due (``run``) and how its digests are recorded (``chunk``).

Uses: ``core``, ``access``, ``mail``, ``reports``, ``delivery`` (its re-check, at send).
"""
