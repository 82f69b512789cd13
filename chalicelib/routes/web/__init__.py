"""The customer portal's plumbing: the session cookie and its CSRF token (``session``), sign-in by the
authorization code flow with PKCE (``signin``, and ``local_issuer`` in the local stage) and the pages
(``pages``, Jinja2 templates under ``templates/``). The routes are ``chalicelib.routes.portal``."""
