"""Announcements of upcoming releases (seed E6): the plans and their moves and cancellation (``plans``), what the
release pipeline asks of the store about them (``ports``), their emails and calendar invitations (``invites``), and
their notices through the release pipeline (``delivery``).

Uses: ``core``, ``access``, ``mail``, ``fanout``, ``releases`` (a cancellation's recall plan).
"""
