"""Releases: creation and edits before publishing (``editing``), what a body may say (``body``), the upload
(``uploads``), verifying and publishing it (``publishing``), yanking and its recall (``recall``), and the audience
preview (``audience``).

Uses: ``core``, ``access``, ``mail``, ``fanout``, ``downloads``, ``announcements`` (publishing marks an announced
version released; only through ``announcements.ports`` and one deferred call).
"""
