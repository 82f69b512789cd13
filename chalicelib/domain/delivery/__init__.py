"""Delivery of one batch, exactly once: claim it, re-check who may still be sent to (``recheck``), build each message
(``compose``), send them paced (``send``), record and count the outcomes (``tally``), the CSM copy's wait for its
account's batches (``waits``), the orchestration of all of it (``batch``) and the re-drive of stuck batches
(``reconcile``).

Uses: ``core``, ``access``, ``mail``, ``reports``, ``releases`` (a recall's message), ``announcements`` (an
announcement's message), ``digests`` (a digest batch's message, which the reconciler re-drives).
"""
