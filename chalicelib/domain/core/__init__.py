"""The words every capability shares, with no AWS and no I/O: the records (``models``, ``records``), the closed sets
of states and roles (``states``), the domain exceptions (``errors``), the typed messages between the Lambdas
(``messages``), request validation (``validation``, ``timestamps``, ``text``), version lines (``versions``) and the
vendor's entitlement matrix (``entitlements``).

Uses no other package: every other package may use this one.
"""
