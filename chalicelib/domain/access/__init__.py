"""Who is asking and what a link may do: identity from verified JWTs (``auth``), signed purpose-bound link tokens
(``tokens``) and the URLs emails carry (``links``).

Uses: ``core``.
"""
