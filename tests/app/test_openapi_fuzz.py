"""Schemathesis over the OpenAPI document, as each role (issue 27, item 13): every documented operation is
called with requests generated from the document, and every answer must be documented (status code, content
type, body schema) and never a 5xx, so that drift between ``chalicelib/openapi.json`` and the app fails the suite.

Bounded for ``make test``: ``PATCHCAST_FUZZ_EXAMPLES`` generated requests per operation and role (default 2,
derandomized, no shrinking), Schemathesis's coverage phase (boundary values of every parameter, ~10x longer)
only with ``PATCHCAST_FUZZ_COVERAGE=1``. The app answers through ``chalice.test.Client``; what API Gateway
answers itself in AWS (a missing or refused token, an unknown path) is answered as its gateway responses do
(``infra/aws.py`` ``GATEWAY_RESPONSES``), not as Chalice's local emulation."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import requests
import schemathesis
import urllib3
from chalice.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks as core_checks
from schemathesis.specs.openapi import checks as oa_checks

from infra.aws import GATEWAY_RESPONSES
from tests.app.cli_api import BASE, ChaliceAdapter
from tests.conftest import auth

EXAMPLES = int(os.environ.get("PATCHCAST_FUZZ_EXAMPLES", "2"))
schema = schemathesis.openapi.from_path("chalicelib/openapi.json")
schema.config.phases.coverage.enabled = os.environ.get("PATCHCAST_FUZZ_COVERAGE") == "1"
schema.config.phases.coverage.unexpected_methods = set()  # API Gateway answers a method a path lacks (404)

# Chalice's local answers for what API Gateway answers itself in AWS: (status, message) -> gateway response
LOCAL_ANSWERS = {
    (401, "Unauthorized"): "UNAUTHORIZED",
    (403, "Missing Authentication Token"): "MISSING_AUTHENTICATION_TOKEN",
}
CHECKS = [
    core_checks.not_a_server_error,
    oa_checks.status_code_conformance,
    oa_checks.content_type_conformance,
    oa_checks.response_schema_conformance,
]


class AsApiGateway(ChaliceAdapter):
    """The app through the Chalice test client, with API Gateway's own answers where AWS would give them."""

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        resp = super().send(request, **kw)
        try:
            body = json.loads(resp.content)
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) and len(body) == 1 else None
        kind = LOCAL_ANSWERS.get((resp.status_code, message))
        if kind:
            status, code, text = GATEWAY_RESPONSES[kind]
            resp.status_code, resp._content = status, json.dumps({"error": code, "message": text}).encode()
            resp.headers["Content-Type"] = "application/json"
        # Schemathesis reads headers off the raw response, as it would off a socket
        resp.raw = urllib3.HTTPResponse(body=b"", headers=dict(resp.headers), status=resp.status_code)
        return resp


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.parametrize("role", ["customer", "release-engineer", "support-admin"])
def test_every_operation_answers_only_what_the_document_says(case: Any, role: str, app_client: Client) -> None:
    session = requests.Session()
    session.mount(BASE, AsApiGateway(app_client))
    resp = case.call(base_url=BASE, session=session, headers=auth(role, "acct-fuzz" if role == "customer" else None))
    case.validate_response(resp, checks=CHECKS)
