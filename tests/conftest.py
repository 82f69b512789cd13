"""Shared fixtures: one moto server for the session (clients made after it starts), the stage's
resources provisioned from ``infra/`` once, the local JWT issuer, and the app's wiring pointed at it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import free_port
from tests.scheduling import (  # noqa: F401 (the units xdist hands out; the seed of the order)
    pytest_terminal_summary,
    pytest_xdist_make_scheduler,
)
from tests.session_records import (  # noqa: F401 (hooks and the fixture of the tests that judge the session)
    pytest_collection_modifyitems,
    pytest_runtest_protocol,
    pytest_runtestloop,
    pytest_sessionfinish,
    pytest_testnodedown,
    session_records,
)

STATE = Path(os.environ.get("PATCHCAST_TEST_STATE", "/tmp")) / f"patchcast-tests-{os.getpid()}"
SENDER = "alerts@patchcast.test"

# Settings are read from the environment once; set a test world before anything imports the app.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "PATCHCAST_STAGE": "local",
        "PATCHCAST_SENDER": SENDER,
        "PATCHCAST_PUBLIC_URL": "https://patchcast.test",
        "PATCHCAST_JWT_ISSUER": issuer.ISSUER,
        "PATCHCAST_JWT_AUDIENCE": issuer.AUDIENCE,
        "PATCHCAST_JWKS_URL": issuer.ensure_keys(STATE).resolve().as_uri(),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "PatchcastTest",
    }
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from patchcast_tools.local import awsd, dynamodb_fidelity, strict_s3, strict_ses

    strict_ses.install()  # before it serves: the session's SES refuses what SES refuses
    strict_s3.install()  # and its S3 is as S3 with a KMS bucket, and checks a part's Content-MD5
    dynamodb_fidelity.install()  # as the local AWS does: atomic transactions (see the module)
    awsd.lean_sqs()  # and its SQS without moto's per-message walk of the queue
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = url
    yield url
    server.stop()


@pytest.fixture(scope="session")
def provisioned(moto_server: str) -> str:
    from patchcast_tools.local.provision import provision

    provision("local", sender=SENDER, session=boto3.session.Session(region_name="us-east-1"))
    return moto_server


@pytest.fixture(scope="session")
def wired(provisioned: str) -> Iterator[object]:
    import app as app_module
    from chalicelib.adapters import wiring
    from tests import iam_recorder, s3_double

    iam_recorder.install(app_module.app)  # before the app's clients exist: see tests/app/test_least_privilege.py
    w = wiring.Wiring()
    _forbid_scans(w.table._db)
    s3_double.behave_as_aws(w.blobs._s3)
    wiring.use(w)
    yield w
    wiring.use(None)


def _forbid_scans(client: object) -> None:
    """No request or fan-out path may Scan the table (DESIGN.md): any Scan through the app's client fails the test."""

    def refuse(**_: object) -> None:
        raise AssertionError("the app issued a DynamoDB Scan; request and fan-out paths must Query")

    client.meta.events.register("before-call.dynamodb.Scan", refuse)  # type: ignore[attr-defined]


@pytest.fixture
def table(wired: object):  # type: ignore[no-untyped-def]
    return wired.table  # type: ignore[attr-defined]


def token(role: str, account: str | None = None, email: str | None = None, **kw: float) -> str:
    return issuer.mint(STATE, role=role, account=account, email=email, **kw)


def auth(role: str, account: str | None = None, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, account, email)}", "Content-Type": "application/json"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def account_body(
    tier: str, products: list[str], *, start: date = date(2026, 1, 1), end: date = date(2030, 12, 31)
) -> dict[str, object]:
    return {
        "name": f"{tier.title()} Customer",
        "tier": tier,
        "products": products,
        "support_start": start.isoformat(),
        "support_end": end.isoformat(),
    }


def sent_messages(moto_url: str) -> list[dict[str, object]]:
    """Every email the session's SES accepted, in the order it accepted them (a slice from a count taken
    earlier is what was sent since)."""
    from patchcast_tools.local import strict_ses

    return [{"to": list(m.destinations), "raw": getattr(m, "raw_data", "")} for m in strict_ses.accepted()]
