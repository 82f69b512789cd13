"""What a Patchcast email is: what SES accepts and the parts every email is built of (``mime``), the notices and
recalls of a release (``notices``), a notice rendered once per batch (``templates``), the on-call and CSM copies
(``copies``), and how fast SES may be called (``pacing``: each function's share of ``MaxSendRate``).

Uses: ``core``, ``access``.
"""
