"""Patchcast on Chalice: every route and event handler lives in a blueprint of ``chalicelib.routes``."""

from chalice import Chalice  # type: ignore[attr-defined]

from chalicelib import names
from chalicelib.routes import auth, catalog, downloads, feedback, pipeline, releases, subscriptions
from chalicelib.routes import fixes as fixes_routes
from chalicelib.routes import portal as portal_routes
from chalicelib.routes import portal_signin as portal_signin_routes

app = Chalice(app_name="patchcast")
for blueprint in (auth.bp, catalog.bp, subscriptions.bp, releases.bp, downloads.bp, pipeline.bp, feedback.bp):
    app.register_blueprint(blueprint)
for blueprint in (fixes_routes.bp, portal_routes.bp, portal_signin_routes.bp):
    app.register_blueprint(blueprint)
if names.current().stage == "local":  # the stand-in for Cognito's sign-in page: never routed in an AWS stage
    from chalicelib.routes import portal_local

    app.register_blueprint(portal_local.bp)
