"""Release publishing at the app level: multipart uploads (retry, resume), declared checksums, the schedule,
publishing twice, yank with recall, the report, and every bad input refused."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib.adapters import wiring
from chalicelib.domain.core.clock import SystemClock
from chalicelib.domain.releases import publishing
from patchcast_tools.cli import upload as uploader
from patchcast_tools.cli.common import CliError
from tests.app.flows import create_release, emails_to, subscribe_and_confirm, upload
from tests.conftest import account_body, auth, unique
from tests.helpers import link, sha256

RE = "release-engineer"
MiB = 1024 * 1024


class ClientApi:
    """patchctl's API client, over the chalice test client instead of HTTP."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        resp = self.client.http.request(
            method, path, headers=auth(RE), body=json.dumps(body) if body is not None else b""
        )
        if resp.status_code not in (200, 201, 202):
            raise CliError(f"{resp.status_code} {resp.body!r}")
        return json.loads(resp.body)


class FlakySession(requests.Session):
    """Fails the PUT of chosen part numbers a given number of times (fault injection for part uploads)."""

    def __init__(self, failures: dict[int, int]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.puts: list[int] = []

    def put(self, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        number = int(dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["partNumber"])
        self.puts.append(number)
        if self.failures.get(number, 0) > 0:
            self.failures[number] -= 1
            raise requests.ConnectionError("injected fault")
        return super().put(url, *args, **kwargs)


@pytest.fixture
def world(app_client: Client, provisioned: str) -> dict[str, str]:
    admin = auth("support-admin")
    product, account, address = unique("P"), unique("acct"), f"{unique('ops')}@customer.example"
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body("premium", [product])))
    subscribe_and_confirm(app_client, provisioned, account, address, [product])
    return {"product": product, "account": account, "address": address}


@pytest.fixture
def small_multipart(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # S3 (and moto) refuse parts under 5 MiB but the last: a 1 MiB threshold with 5 MiB parts.
    monkeypatch.setattr(
        wired, "settings", dataclasses.replace(wired.settings, multipart_threshold=MiB, multipart_part_size=5 * MiB)
    )
    monkeypatch.setattr(uploader, "RETRY_BASE_SECONDS", 0.0)
    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / unique("cli")))


def _notices(moto: str, address: str, marker: str = "[Sev") -> list[Any]:
    return [m for m in emails_to(moto, address) if marker in m["Subject"] and "RECALL" not in m["Subject"]]


def _new(client: Client, product: str, **fields: Any) -> dict[str, Any]:
    body = {"product": product, "version": unique("v"), "kind": "patch", "severity": 2, "title": "Fix", **fields}
    resp = client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 201, resp.body
    return json.loads(resp.body)


def _get(client: Client, release_id: str) -> dict[str, Any]:
    return json.loads(client.http.get(f"/releases/{release_id}", headers=auth(RE)).body)


def test_a_large_file_goes_up_in_parts_with_a_failed_part_retried_and_verifies(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str], small_multipart: None, tmp_path: Path
) -> None:
    # GIVEN a file above the (lowered) threshold: two parts, 5 MiB and 1 MiB
    path = tmp_path / "sp.zip"
    path.write_bytes(os.urandom(6 * MiB))
    release = _new(app_client, world["product"], filename="sp.zip", size=6 * MiB)
    assert release["upload"]["method"] == "multipart" and release["upload"]["part_count"] == 2
    # WHEN part 2 fails twice on the way
    http = FlakySession({2: 2})
    uploader.upload(ClientApi(app_client), release, path, show_progress=False, http=http)
    runner.pump()
    # THEN it was retried, the file verified against the SHA-256 computed during the upload, and it went out
    assert http.puts == [1, 2, 2, 2]
    got = _get(app_client, release["id"])
    assert got["status"] == "published" and got["sha256"] == sha256(path.read_bytes())
    # AND the version assembled is the one recorded, which downloads name
    stored = wiring.get().table.get_release(release["id"], consistent=True)
    head = wiring.get().blobs._s3.head_object(Bucket=wiring.get().blobs.bucket, Key=stored.object_key)
    assert stored.object_version == head["VersionId"]
    assert len(_notices(provisioned, world["address"])) == 1


def test_an_interrupted_multipart_upload_resumes_without_resending_parts(
    app_client: Client, runner: Any, world: dict[str, str], small_multipart: None, tmp_path: Path
) -> None:
    path = tmp_path / "fp.zip"
    path.write_bytes(os.urandom(6 * MiB))
    release = _new(app_client, world["product"], filename="fp.zip", size=6 * MiB)
    api = ClientApi(app_client)
    # GIVEN an upload that dies at part 2 (every attempt fails)
    with pytest.raises(CliError, match="resume with `patchctl release upload"):
        uploader.upload(api, release, path, show_progress=False, http=FlakySession({2: 99}))
    assert uploader.state_file(release["id"]).exists()
    assert _get(app_client, release["id"])["status"] == "awaiting-upload"
    # WHEN it is resumed
    again = FlakySession({})
    uploader.upload(api, _get(app_client, release["id"]), path, show_progress=False, http=again)
    runner.pump()
    # THEN only the missing part was sent, and the release verified
    assert again.puts == [2]
    assert not uploader.state_file(release["id"]).exists()
    assert _get(app_client, release["id"])["status"] == "published"


@pytest.mark.parametrize("wrong", ["size", "sha256"])
def test_a_multipart_upload_that_differs_from_its_declaration_is_rejected_and_notifies_nobody(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str], small_multipart: None, wrong: str
) -> None:
    data = os.urandom(6 * MiB)
    declared = 6 * MiB + (1 if wrong == "size" else 0)
    release = _new(app_client, world["product"], filename="x.zip", size=declared)
    urls = json.loads(
        app_client.http.post(
            f"/releases/{release['id']}/upload/parts", headers=auth(RE), body=json.dumps({"parts": [1, 2]})
        ).body
    )["parts"]
    etags = [
        requests.put(u["url"], data=data[i * 5 * MiB : (i + 1) * 5 * MiB], timeout=30).headers["ETag"]
        for i, u in enumerate(urls)
    ]
    digest = sha256(data) if wrong == "size" else sha256(b"something else")
    body = {"sha256": digest, "parts": [{"part_number": i + 1, "etag": e} for i, e in enumerate(etags)]}
    resp = app_client.http.post(f"/releases/{release['id']}/upload/complete", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 202, resp.body
    runner.pump()
    got = _get(app_client, release["id"])
    assert got["status"] == "rejected" and ("size is" if wrong == "size" else "SHA-256 is") in got["reason"]
    assert _notices(provisioned, world["address"]) == []


def test_a_post_upload_declares_its_checksum_on_completion(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    # GIVEN a release created without a SHA-256 whose file is posted (its ObjectCreated finds no checksum yet)
    data = b"update bytes" * 50
    release = _new(app_client, world["product"], filename="u.zip", size=len(data))
    upload(release, data)
    runner.pump()
    assert _get(app_client, release["id"])["status"] == "awaiting-upload"
    # WHEN the checksum is declared, THEN the file verifies and the notice goes out
    resp = app_client.http.post(
        f"/releases/{release['id']}/upload/complete", headers=auth(RE), body=json.dumps({"sha256": sha256(data)})
    )
    assert resp.status_code == 202, resp.body
    runner.pump()
    assert _get(app_client, release["id"])["status"] == "published"
    assert len(_notices(provisioned, world["address"])) == 1


def test_a_wrong_checksum_declared_on_completion_is_rejected_and_notifies_nobody(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    data = b"the real bytes"
    release = _new(app_client, world["product"], filename="u.zip", size=len(data))
    upload(release, data)
    resp = app_client.http.post(
        f"/releases/{release['id']}/upload/complete", headers=auth(RE), body=json.dumps({"sha256": sha256(b"other")})
    )
    assert resp.status_code == 202
    runner.pump()
    got = _get(app_client, release["id"])
    assert got["status"] == "rejected" and "SHA-256" in got["reason"]
    assert _notices(provisioned, world["address"]) == []


def test_a_file_of_another_size_is_refused_or_rejected_and_notifies_nobody(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    data = b"declared size"
    release = create_release(app_client, world["product"], data)
    up = release["upload"]
    resp = requests.post(up["url"], data=up["fields"], files={"file": ("fix.zip", data + b"!")}, timeout=10)
    runner.pump()
    got = _get(app_client, release["id"])
    # S3 refuses it outright (the POST policy's content-length-range); moto stores it, and verification rejects it
    assert resp.status_code >= 400 or (got["status"] == "rejected" and "size is" in got["reason"])
    assert got["status"] != "published"
    assert _notices(provisioned, world["address"]) == []


def _in(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


def _scheduled(app_client: Client, runner: Any, product: str, notify_at: str) -> dict[str, Any]:
    """A release uploaded and verified, waiting for ``notify_at``."""
    data = f"fix for {notify_at}".encode()
    release = create_release(app_client, product, data, notify_at=notify_at)
    upload(release, data)
    runner.pump()
    assert _get(app_client, release["id"])["status"] == "scheduled"
    return release


def test_a_release_scheduled_ahead_is_published_by_the_schedule_once(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    release = _scheduled(app_client, runner, world["product"], _in(30))
    w = wiring.get()
    # WHEN the schedule runs before the time: nothing; after it: published
    assert release["id"] not in publishing.publish_due(w.table, w.queues)
    later = _in(60)
    assert release["id"] in publishing.publish_due(w.table, w.queues, now=later)
    runner.pump()
    assert _get(app_client, release["id"])["status"] == "published"
    # AND publishing again (the schedule, the route) sends nothing twice
    assert release["id"] not in publishing.publish_due(w.table, w.queues, now=later)
    resp = app_client.http.post(f"/releases/{release['id']}/publish", headers=auth(RE), body="{}")
    assert resp.status_code == 200
    runner.pump()
    assert len(_notices(provisioned, world["address"])) == 1


def test_a_yanked_release_recalls_its_notice_stops_downloads_and_reports(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    # GIVEN a published release whose link was followed once, and its successor
    data = b"bad fix"
    release = create_release(app_client, world["product"], data, sha256=None)
    upload(release, data)
    app_client.http.post(
        f"/releases/{release['id']}/upload/complete", headers=auth(RE), body=json.dumps({"sha256": sha256(data)})
    )
    runner.pump()
    notice = _notices(provisioned, world["address"])[0]
    download = urlsplit(link(notice, "/d/")).path
    assert app_client.http.get(download).status_code == 302
    successor = _new(
        app_client,
        world["product"],
        article_url="https://support.example/kb/1",
        kind="critical-solution",
        version=f"{release['version']}.1",
    )
    assert app_client.http.post(f"/releases/{successor['id']}/publish", headers=auth(RE), body="{}").status_code == 200
    # WHEN it is yanked (twice: idempotent)
    for _ in range(2):
        body = {"reason": "corrupts <b>ledgers</b>", "superseded_by": successor["id"]}
        resp = app_client.http.post(f"/releases/{release['id']}/yank", headers=auth(RE), body=json.dumps(body))
        assert resp.status_code == 200 and json.loads(resp.body)["status"] == "yanked"
    runner.pump()
    # THEN one recall went to the one notified, HTML-escaped, naming the successor
    recalls = [m for m in emails_to(provisioned, world["address"]) if "[RECALL]" in m["Subject"]]
    assert len(recalls) == 1
    assert "&lt;b&gt;ledgers&lt;/b&gt;" in recalls[0].get_body(("html",)).get_content()
    assert successor["version"] in recalls[0].get_body(("plain",)).get_content()
    # AND the link answers 410 with the reason and the successor
    gone = app_client.http.get(download, headers={"Accept": "application/json"})
    assert gone.status_code == 410
    message = json.loads(gone.body)["message"]
    assert "corrupts" in message and successor["version"] in message
    # AND the report counts it per tier
    report = json.loads(app_client.http.get(f"/releases/{release['id']}/report", headers=auth(RE)).body)
    assert report["tiers"]["premium"]["notified"] == 1 and report["tiers"]["premium"]["downloaded"] == 1
    assert report["totals"]["recalled"] == 1 and report["totals"]["failed"] == 0


def test_yanking_an_unknown_release_is_404(app_client: Client) -> None:
    resp = app_client.http.post("/releases/nope123/yank", headers=auth(RE), body=json.dumps({"reason": "x"}))
    assert resp.status_code == 404 and json.loads(resp.body)["error"] == "not_found"


def _past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        ({"filename": "dir/fix.zip"}, "invalid_field", "filename"),
        ({"filename": "..\\fix.zip"}, "invalid_field", "filename"),
        ({"filename": "fix\r\n.zip"}, "invalid_field", "filename"),
        ({"filename": "fix\x00.zip"}, "invalid_field", "filename"),
        ({"title": "Fix\r\nBcc: all@example.com"}, "invalid_field", "title"),
        ({"summary": "line one\r\nline two"}, "invalid_field", "summary"),
        ({"product": "NOPE"}, "unknown_product", "NOPE"),
        ({"notify_at": "tomorrow at nine"}, "invalid_field", "notify_at"),
        ({"notify_at": _past()}, "invalid_field", "notify_at"),
        ({"sha256": "ABC"}, "invalid_field", "sha256"),
        ({"size": 0}, "invalid_field", "size"),
    ],
)
def test_bad_releases_get_400_naming_the_problem_and_write_nothing(
    app_client: Client, world: dict[str, str], change: dict[str, Any], code: str, named: str
) -> None:
    version = unique("v")
    body = {
        "product": world["product"],
        "version": version,
        "kind": "patch",
        "severity": 2,
        "title": "Fix",
        "filename": "fix.zip",
        "size": 10,
        **change,
    }
    resp = app_client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 400 and json.loads(resp.body)["error"] == code
    assert named in json.loads(resp.body)["message"]
    # nothing written: the same version is still free
    assert _new(app_client, world["product"], version=version, filename="fix.zip", size=10)["version"] == version


def test_a_version_already_published_is_409(app_client: Client, world: dict[str, str]) -> None:
    first = _new(app_client, world["product"], article_url="https://kb.example/1", kind="critical-solution")
    body = {
        "product": world["product"],
        "version": first["version"],
        "kind": "critical-solution",
        "severity": 2,
        "title": "Again",
        "article_url": "https://kb.example/2",
    }
    resp = app_client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 409 and json.loads(resp.body)["error"] == "already_exists"


def test_html_in_a_title_is_escaped_in_the_notice_and_kept_out_of_headers(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str]
) -> None:
    data = b"x"
    release = create_release(app_client, world["product"], data, title="<script>alert(1)</script> fix")
    upload(release, data)
    runner.pump()
    notice = _notices(provisioned, world["address"])[0]
    assert "<script>" not in notice.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in notice.get_body(("html",)).get_content()
    assert "\n" not in str(notice["Subject"]) and "\r" not in str(notice["Subject"])


def test_a_duplicate_large_release_is_409_and_leaves_no_multipart_upload(
    app_client: Client, wired: Any, world: dict[str, str], small_multipart: None
) -> None:
    s3 = wired.client("s3")

    def pending() -> set[tuple[str, str]]:
        uploads = s3.list_multipart_uploads(Bucket=wired.settings.names.bucket).get("Uploads", [])
        return {(u["Key"], u["UploadId"]) for u in uploads}

    first = _new(app_client, world["product"], filename="big.zip", size=6 * MiB)
    before = pending()  # other tests' uploads may be pending too: the refused release must add none
    body = {
        "product": world["product"],
        "version": first["version"],
        "kind": "patch",
        "severity": 2,
        "title": "Fix",
        "filename": "big.zip",
        "size": 6 * MiB,
    }
    resp = app_client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 409 and json.loads(resp.body)["error"] == "already_exists"
    assert pending() - before == set()


def test_the_scheduled_handler_publishes_what_is_due(
    app_client: Client, runner: Any, provisioned: str, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a release whose notify_at comes in an hour (so it is still scheduled once verified, however slow the
    # machine: a notify_at seconds ahead may pass during the upload, and the release goes out at verification)
    at = _in(3600)
    release = _scheduled(app_client, runner, world["product"], at)
    # WHEN the schedule's Lambda runs after that time (its clock moved past it)
    later = (datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=1)).isoformat(timespec="seconds")
    moved = datetime.fromisoformat(later)
    monkeypatch.setattr(SystemClock, "now", lambda self: moved)  # the system clock the handler's domain reads
    app_client.lambda_.invoke(
        "publish_scheduled", app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )
    monkeypatch.undo()
    runner.pump()
    # THEN it is published and its notice went out
    assert _get(app_client, release["id"])["status"] == "published"
    assert len([m for m in _notices(provisioned, world["address"]) if release["version"] in str(m["Subject"])]) == 1
