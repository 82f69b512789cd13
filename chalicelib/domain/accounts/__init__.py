"""Contracts: accounts and the product catalog (``contracts``), period arithmetic (``periods``), the warnings before a
support period ends (``support_warnings``), and the Elite CSM's review (``review``) with its email (``review_mail``).

Uses: ``core``, ``access``, ``mail``, ``reports``.
"""
