"""The OpenAPI document and the app's routes must match, both ways."""

from __future__ import annotations

import json

from chalice.test import Client


def test_every_route_is_documented_and_every_documented_route_exists(app_client: Client) -> None:
    import app as app_module

    doc = json.loads(app_client.http.get("/openapi.json").body)
    assert doc["openapi"].startswith("3.")
    in_app = {(path, method.lower()) for path, methods in app_module.app.routes.items() for method in methods}
    in_doc = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert in_app - in_doc == set(), "routes missing from chalicelib/openapi.json"
    assert in_doc - in_app == set(), "documented routes the app does not have"


def test_authenticated_routes_and_the_document_agree_on_security(app_client: Client) -> None:
    import app as app_module

    doc = json.loads(app_client.http.get("/openapi.json").body)
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            documented = "security" in doc["paths"][path][method.lower()]
            assert documented == (entry.authorizer is not None), f"{method} {path}"
