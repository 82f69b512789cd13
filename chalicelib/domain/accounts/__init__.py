"""Contracts: accounts and the product catalog (``contracts``), period arithmetic (``periods``), the warnings before a
support period ends (``support_warnings``), and the Elite CSM's review (``review``) with its email (``review_mail``);
the schedules that send both: the ``due`` index, planned and sent in paced batches (``scheduled``, ``scheduled_send``).

Uses: ``core``, ``access``, ``mail``, ``reports``.
"""
