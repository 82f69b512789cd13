"""Patchcast on Chalice: every route and event handler lives in a blueprint of ``chalicelib.routes``."""

from chalice import Chalice  # type: ignore[attr-defined]

from chalicelib import names
from chalicelib.routes import (
    accounts,
    announcements,
    auth,
    catalog,
    digests,
    downloads,
    pipeline,
    portal,
    portal_signin,
    products,
    releases,
    service,
    subscriptions,
    suppressions,
    tiers,
)

app = Chalice(app_name="patchcast")
for blueprint in (
    auth.bp,
    service.bp,
    tiers.bp,
    products.bp,
    accounts.bp,
    subscriptions.bp,
    releases.bp,
    downloads.bp,
    pipeline.bp,
    digests.bp,
    suppressions.bp,
    announcements.bp,
    catalog.bp,
    portal.bp,
    portal_signin.bp,
):
    app.register_blueprint(blueprint)
if names.current().stage == "local":  # the stand-in for Cognito's sign-in page: never routed in an AWS stage
    from chalicelib.routes import portal_local

    app.register_blueprint(portal_local.bp)
