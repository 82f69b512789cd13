"""Download links end to end through the local stack over real HTTP: redirect, interrupted and resumed
transfer, key rotation with ``patchctl keys``, and a fresh link for an expired one by email."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from chalicelib.domain.access.tokens import KeyRing, Purpose, mint
from patchcast_tools.demo import run_scenario
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emailed(stack: LocalStack) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A download link from a notice in the outbox, its sha256, and the address it went to."""
    result = run_scenario(stack, say=lambda _line: None)
    notice = next(m for m in Outbox(stack.outbox_dir).messages() if "13.5.0" in str(m["Subject"]))
    yield link(notice, "/d/"), result["sha256"], {"to": str(notice["To"])}


def _patchctl_keys(stack: LocalStack, *args: str) -> dict[str, object]:
    # a fresh shell: no AWS settings, only the local stack's port (what `make run` users have)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PATCHCAST_"))}
    env["PATCHCAST_AWS_PORT"] = str(stack.aws_port)
    done = subprocess.run([patchctl(), "keys", *args, "--json"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_interrupted_download_resumes_through_the_emailed_link(
    stack: LocalStack, emailed: tuple[str, str, dict[str, str]]
) -> None:
    url, digest, _ = emailed
    info = requests.get(f"{url}/info", timeout=10).json()
    assert info["sha256"] == digest
    # GIVEN a transfer cut off after half the file
    with requests.get(url, stream=True, timeout=10) as first:
        assert first.history and first.history[0].status_code == 302
        half = first.raw.read(info["size"] // 2)
    # WHEN the link is followed again with a Range header for the rest
    rest = requests.get(url, headers={"Range": f"bytes={len(half)}-"}, timeout=10)
    # THEN S3 answers 206 and the pieces hash to the published SHA-256
    assert rest.status_code == 206
    assert hashlib.sha256(half + rest.content).hexdigest() == digest


def test_links_keep_working_across_a_key_rotation(stack: LocalStack, emailed: tuple[str, str, dict[str, str]]) -> None:
    url, _, _ = emailed
    assert urlsplit(url).path.split("/")[-1].startswith("k1.")
    rotated = _patchctl_keys(stack, "rotate")
    assert (rotated["current"], rotated["previous"], rotated["retired"]) == ("k2", "k1", [])
    assert _patchctl_keys(stack, "list") == {
        "secret": "patchcast/local/signing-keys",
        "current": "k2",
        "keys": ["k1", "k2"],
    }
    assert requests.get(url, allow_redirects=False, timeout=10).status_code == 302


def test_an_expired_link_gets_a_fresh_one_by_email_from_its_page(
    stack: LocalStack, emailed: tuple[str, str, dict[str, str]]
) -> None:
    url, _, who = emailed
    # GIVEN the same claims in a link that expired (minted here with the stack's current key)
    payload = urlsplit(url).path.split("/")[-1].split(".")[1]
    _, account, sub, release, _ = base64.urlsafe_b64decode(payload + "==").decode().split("|")
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    doc = json.loads(secrets.get_secret_value(SecretId="patchcast/local/signing-keys")["SecretString"])
    ring = KeyRing(current=doc["current"], keys={k: v.encode() for k, v in doc.items() if k != "current"})
    expired = mint(
        ring, Purpose.DOWNLOAD, account_id=account, subject=sub, release_id=release, expires=int(time.time()) - 60
    )
    base = url.split("/d/")[0]
    # WHEN a browser opens it: 410 and a form posting to <token>/renew
    page = requests.get(f"{base}/d/{expired}", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 410 and f"action='{base}/d/{expired}/renew'" in page.text
    before = len(Outbox(stack.outbox_dir).to(who["to"]))
    # AND the button is pressed (a form POST, as the browser sends it)
    sent = requests.post(
        f"{base}/d/{expired}/renew",
        data=b"",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )
    # THEN a fresh, working link arrives by email only
    assert sent.status_code == 202 and "/d/" not in sent.text
    mails = Outbox(stack.outbox_dir).wait_for(lambda m: who["to"] in str(m["To"]), count=before + 1, timeout=10)
    fresh = link(mails[-1], "/d/")
    assert (
        fresh.split("/d/")[1] != expired and requests.get(fresh, allow_redirects=False, timeout=10).status_code == 302
    )
