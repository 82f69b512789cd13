"""Where the OpenAPI document and the app had drifted apart (issue 27, item 13): catalogue items whose
documented non-null fields come back null, an empty ``published_to=`` taken as no filter, the catalogue
download's HTML refusals undocumented, and pages without a CSP ``base-uri``."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from chalice.test import Client

from chalicelib.adapters import wiring
from tests.app.test_downloads import _release
from tests.app.test_subscriptions import _customer
from tests.conftest import auth


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema says it (a null among the types)."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") and "type" in schema:
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


def _documented(app_client: Client, path: str, status: str) -> dict[str, Any]:
    doc = json.loads(app_client.http.get("/openapi.json").body)
    response = doc["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return {"response": response, "components": _nullable(doc["components"])}


def test_a_catalogue_item_without_article_or_successor_matches_the_documented_item(app_client: Client) -> None:
    # GIVEN a published release of a file, with no article and no successor (those fields are null)
    account, (product,) = _customer(app_client, "premium")
    release = _release(wiring.get(), product)
    # WHEN the customer lists the catalogue
    resp = app_client.http.get(f"/catalog?product={product}", headers=auth("customer", account))
    page = json.loads(resp.body)
    item = next(i for i in page["items"] if i["id"] == release.release_id)
    assert item["article_url"] is None and item["superseded_by"] is None
    # THEN the page is what the document says a page is
    documented = _documented(app_client, "/catalog", "200")
    schema = _nullable(documented["response"]["content"]["application/json"]["schema"])
    jsonschema.Draft202012Validator({**schema, "components": documented["components"]}).validate(page)


def test_an_empty_time_filter_of_the_release_list_is_a_400_naming_it(app_client: Client) -> None:
    for field in ("published_to", "published_from", "created_from", "created_to"):
        resp = app_client.http.get(f"/releases?{field}=", headers=auth("release-engineer"))
        body = json.loads(resp.body)
        assert resp.status_code == 400 and f"'{field}'" in body["message"] and set(body) == {"error", "message"}


def test_the_catalogue_downloads_html_refusal_is_documented_and_its_page_fixes_its_base(app_client: Client) -> None:
    # WHEN a browser (no Accept: application/json) asks for a release that is not there
    account, _ = _customer(app_client, "premium")
    resp = app_client.http.get("/catalog/no-such-release/download", headers=auth("customer", account))
    # THEN the 404 is a page, as the document says it may be, and the page allows no <base> of another origin
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/html")
    assert "text/html" in _documented(app_client, "/catalog/{release_id}/download", "404")["response"]["content"]
    assert "base-uri 'none'" in resp.headers["Content-Security-Policy"].split("; ")
    # AND asked for JSON, the same refusal is the documented error
    resp = app_client.http.get(
        "/catalog/no-such-release/download", headers={**auth("customer", account), "Accept": "application/json"}
    )
    assert resp.status_code == 404 and set(json.loads(resp.body)) == {"error", "message"}
