"""Digests: a subscription's per-severity choice of instant notices or a daily or weekly digest and the windows in the
account's time zone (``windows``), the digest email (``mail``) and the schedule that sends what is due (``run``).

Uses: ``core``, ``access``, ``mail``, ``reports``.
"""
