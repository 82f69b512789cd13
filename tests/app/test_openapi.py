"""The OpenAPI document and the app's routes must match, both ways: paths, methods, security, request bodies
(required fields, fields not allowed) and the error responses the routes give."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from chalice.test import Client

from tests.app.flows import create_release, subscribed_world
from tests.conftest import account_body, auth, unique


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


def _schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    """The documented JSON request body of a route, resolvable on its own (its refs point into the document)."""
    body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return {**body, "components": doc["components"]}


def _valid_bodies(app_client: Client, provisioned: str) -> list[tuple[str, str, str, dict[str, Any], dict[str, str]]]:
    """One body each route accepts, with its headers: (documented path, method, real path, body, headers)."""
    product, account, address = subscribed_world(app_client, provisioned, "elite")
    admin, engineer = auth("support-admin"), auth("release-engineer")
    release = create_release(app_client, product, b"bytes")
    return [
        ("/products/{product_id}", "put", f"/products/{unique('P')}", {"name": "Product"}, admin),
        ("/accounts/{account_id}", "put", f"/accounts/{unique('a')}", account_body("premium", [product]), admin),
        (
            "/subscriptions",
            "post",
            "/subscriptions",
            {
                "email": f"{unique('new')}@customer.example",
                "products": [product],
                "kinds": ["patch"],
                "max_severity": 3,
            },
            auth("customer", account, address),
        ),
        (
            "/releases",
            "post",
            "/releases",
            {
                "product": product,
                "version": unique("v"),
                "kind": "patch",
                "severity": 2,
                "title": "Fix",
                "filename": "fix.zip",
                "size": 5,
            },
            engineer,
        ),
        ("/releases/{release_id}/yank", "post", f"/releases/{release['id']}/yank", {"reason": "broken"}, engineer),
        (
            "/announcements",
            "post",
            "/announcements",
            {
                "product": product,
                "kind": "update",
                "version": unique("v"),
                "planned_for": "2099-01-01",
                "title": "Update",
                "summary": "Planned",
            },
            engineer,
        ),
    ]


def test_documented_request_bodies_and_error_responses_match_what_the_routes_do(
    app_client: Client, provisioned: str
) -> None:
    doc = json.loads(app_client.http.get("/openapi.json").body)
    error = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Error", "components": doc["components"]})
    for path, method, real, body, headers in _valid_bodies(app_client, provisioned):
        schema = _schema(doc, path, method)
        documented = doc["paths"][path][method]["responses"]
        jsonschema.Draft202012Validator(schema).validate(body)  # the document accepts what the route accepts
        required = schema["required"] if "required" in schema else _resolve(doc, schema)["required"]
        assert required, f"{method} {path}"
        # WHEN a documented required field is missing, or a field the document does not allow is added
        for missing in required:
            resp = getattr(app_client.http, method)(
                real, headers=headers, body=json.dumps({k: v for k, v in body.items() if k != missing})
            )
            # THEN the route refuses it with a documented 400 naming the field, in the documented error shape
            got = json.loads(resp.body)
            assert resp.status_code == 400 and "400" in documented, (method, path, missing, resp.status_code, got)
            assert missing in got["message"], (method, path, got)
            error.validate(got)
        resp = getattr(app_client.http, method)(real, headers=headers, body=json.dumps({**body, "unexpected": 1}))
        assert resp.status_code == 400 and "unexpected" in json.loads(resp.body)["message"], (method, path)
        # AND the body the document describes is accepted, with a documented success status
        resp = getattr(app_client.http, method)(real, headers=headers, body=json.dumps(body))
        assert resp.status_code < 300 and str(resp.status_code) in documented, (method, path, resp.status_code)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[-1]
    return dict(doc["components"]["schemas"][name])


def test_the_document_refuses_a_release_with_neither_a_file_nor_an_article_as_the_route_does(
    app_client: Client,
) -> None:
    doc = json.loads(app_client.http.get("/openapi.json").body)
    body = {"product": "P1", "version": "1.0", "kind": "patch", "severity": 2, "title": "Fix"}
    resp = app_client.http.post("/releases", headers=auth("release-engineer"), body=json.dumps(body))
    assert resp.status_code == 400
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(_schema(doc, "/releases", "post")).validate(body)
