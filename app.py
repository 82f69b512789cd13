"""Patchcast on Chalice: every route and event handler lives in a blueprint of ``chalicelib.routes``."""

from chalice import Chalice  # type: ignore[attr-defined]

from chalicelib.routes import (
    announcements,
    auth,
    catalog,
    downloads,
    feedback,
    pipeline,
    releases,
    reviews,
    subscriptions,
)

app = Chalice(app_name="patchcast")
for blueprint in (
    auth.bp,
    catalog.bp,
    subscriptions.bp,
    releases.bp,
    downloads.bp,
    pipeline.bp,
    feedback.bp,
    announcements.bp,
    reviews.bp,
):
    app.register_blueprint(blueprint)
