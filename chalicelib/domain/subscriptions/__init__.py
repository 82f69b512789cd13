"""Pre-registration: pending subscriptions, double opt-in and one-click unsubscribe (``preregistration``), the one
path of every confirmation email (``confirmations``) and its rate limits (``limits``), and SES feedback that
suppresses an address (``feedback``).

Uses: ``core``, ``access``, ``mail``, ``digests`` (a subscription's digest choice).
"""
