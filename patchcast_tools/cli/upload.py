"""Uploading a release's file in one read: each chunk is hashed (SHA-256) as it is sent, with a progress
bar on a terminal; multipart parts are retried on failure and an interrupted upload resumes from a
small state file (``<state dir>/uploads/<release>.json``) holding the parts S3 already has."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import requests

from patchcast_tools.cli.common import Api, ApiError, CliError, state_dir

PART_ATTEMPTS = 4
COMPLETE_ATTEMPTS = 4  # completion is idempotent: a gateway timeout (assembling takes minutes) is retried
RETRY_BASE_SECONDS = 0.5  # backoff before retry n: base * 2**n, at most 8 s
# The API's largest file (chalicelib.domain.releases.body.MAX_FILE_SIZE; the installed patchctl ships without chalicelib,
# a test holds the two together): refused before a byte is sent.
MAX_FILE_SIZE = 5 * 1024**3
_CHUNK = 1024 * 1024


def check_size(path: Path) -> int:
    size = path.stat().st_size
    if size > MAX_FILE_SIZE:
        raise CliError(
            f"--file: {path.name} is {size} bytes; the largest release file is {MAX_FILE_SIZE} bytes (5 GiB)"
        )
    return size


class Progress:
    """A rich progress bar when stderr is a terminal, nothing when piped or with --json."""

    def __init__(self, total: int, label: str, *, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class _HashingForm:
    """A multipart/form-data body for S3's presigned POST, streamed from the file and hashed as it goes."""

    def __init__(self, fields: dict[str, str], f: BinaryIO, filename: str, size: int, progress: Progress) -> None:
        boundary = "patchcast" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
        head += b"Content-Type: application/octet-stream\r\n\r\n"
        self._parts: list[bytes | BinaryIO] = [head, f, f"\r\n--{boundary}--\r\n".encode()]
        self.len = len(head) + size + len(self._parts[2])  # type: ignore[arg-type]
        self.sha256 = hashlib.sha256()
        self.sent = 0
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        while self._parts:
            part = self._parts[0]
            if isinstance(part, bytes):
                self._parts.pop(0)
                return part
            chunk = part.read(_CHUNK if n is None or n < 0 else max(n, 64 * 1024))
            if chunk:
                self.sha256.update(chunk)
                self.sent += len(chunk)
                self._progress.advance(len(chunk))
                return chunk
            self._parts.pop(0)
        return b""


def post_file(upload: dict[str, Any], path: Path, size: int, progress: Progress) -> str:
    """One presigned POST, hashed in the same read; returns the SHA-256."""
    with path.open("rb") as f:
        form = _HashingForm(upload["fields"], f, path.name, size, progress)
        try:
            resp = requests.post(upload["url"], data=form, headers={"Content-Type": form.content_type}, timeout=600)
        except requests.RequestException as exc:
            raise CliError(f"upload of {path.name} failed: {exc.__class__.__name__}") from exc
    if resp.status_code not in (200, 201, 204):
        raise CliError(f"upload of {path.name} failed: HTTP {resp.status_code}: {resp.text[:200]}")
    if form.sent != size:
        raise CliError(f"{path.name} changed while it was uploaded ({form.sent} bytes read, {size} expected)")
    return form.sha256.hexdigest()


# -- multipart ---------------------------------------------------------------------------------------
def state_file(release_id: str) -> Path:
    return state_dir() / "uploads" / f"{release_id}.json"


def _load_state(release_id: str, path: Path, size: int) -> dict[str, str]:
    file = state_file(release_id)
    if not file.exists():
        return {}
    saved = json.loads(file.read_text())
    if saved.get("file") != str(path.resolve()) or saved.get("size") != size:
        raise CliError(f"{file} records an upload of another file; remove it to start over")
    return dict(saved.get("etags", {}))


def _save_state(release_id: str, path: Path, size: int, etags: dict[str, str]) -> None:
    file = state_file(release_id)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"file": str(path.resolve()), "size": size, "etags": etags}))
    tmp.replace(file)  # atomic: an interruption never leaves half a state file


def _parts(f: BinaryIO, part_size: int) -> Iterator[tuple[int, bytes]]:
    number = 1
    while chunk := f.read(part_size):
        yield number, chunk
        number += 1


# S3's ETag of a part is the MD5 of its bytes only without KMS: under SSE-KMS (a stage with ``KmsKeyArn``) or
# SSE-C it is not, and S3 says which encryption it applied in this response header.
_NOT_MD5_ETAG = ("aws:kms", "aws:kms:dsse")


def _put_part(http: requests.Session, api: Api, release_id: str, number: int, data: bytes) -> str:
    """PUT one part, retried with backoff. S3 checks the bytes against the part's ``Content-MD5`` under any
    encryption (400 ``BadDigest`` if altered on the way); the ETag is checked against the MD5 too where it is one."""
    digest = hashlib.md5(data, usedforsecurity=False)
    md5, content_md5 = digest.hexdigest(), base64.b64encode(digest.digest()).decode()
    problem = ""
    for attempt in range(PART_ATTEMPTS):
        if attempt:
            time.sleep(min(RETRY_BASE_SECONDS * 2**attempt, 8))
        url = api.call("POST", f"/releases/{release_id}/upload/parts", {"parts": [number]})["parts"][0]["url"]
        try:
            resp = http.put(url, data=data, headers={"Content-MD5": content_md5}, timeout=300)
        except requests.RequestException as exc:
            problem = exc.__class__.__name__
            continue
        etag = resp.headers.get("ETag", "").strip('"')
        if resp.status_code == 200 and etag:
            sse = resp.headers.get("x-amz-server-side-encryption", "")
            if len(etag) == 32 and etag != md5 and sse not in _NOT_MD5_ETAG:
                problem = "the part arrived altered (ETag is not its MD5)"
                continue
            return etag
        problem = f"HTTP {resp.status_code}" + (
            " (BadDigest: the part arrived altered)" if b"BadDigest" in resp.content else ""
        )
    raise CliError(f"part {number} failed {PART_ATTEMPTS} times ({problem})")


def multipart_file(
    api: Api,
    release: dict[str, Any],
    path: Path,
    size: int,
    progress: Progress,
    http: requests.Session | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Upload the parts S3 does not have yet, hashing every byte once; returns the SHA-256 and the parts."""
    release_id, part_size = release["id"], int(release["part_size"])
    http = http or requests.Session()
    etags = _load_state(release_id, path, size)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for number, data in _parts(f, part_size):
            digest.update(data)  # a resumed upload re-reads the parts it has, to hash them, and sends only the rest
            if str(number) not in etags:
                try:
                    etags[str(number)] = _put_part(http, api, release_id, number, data)
                except CliError as exc:
                    raise CliError(
                        f"{exc}; {len(etags)} parts are saved: resume with `patchctl release upload {release_id} --file {path}`"
                    ) from exc
                _save_state(release_id, path, size, etags)
            progress.advance(len(data))
    parts = [{"part_number": int(n), "etag": e} for n, e in sorted(etags.items(), key=lambda kv: int(kv[0]))]
    return digest.hexdigest(), parts


def _declared_size(release: dict[str, Any], path: Path) -> int:
    size = path.stat().st_size
    if size != release.get("size"):
        raise CliError(f"{path} is {size} bytes; the release declared {release.get('size')}")
    return size


def upload(
    api: Api, release: dict[str, Any], path: Path, *, show_progress: bool, http: requests.Session | None = None
) -> dict[str, Any]:
    """Send the file as the release's ``upload`` says, then declare its SHA-256 and parts (completion)."""
    size = _declared_size(release, path)
    progress = Progress(size, path.name, enabled=show_progress)
    try:
        if release.get("part_size"):
            sha256, parts = multipart_file(api, release, path, size, progress, http)
            body: dict[str, Any] = {"sha256": sha256, "parts": parts}
        else:
            body = {"sha256": post_file(release["upload"], path, size, progress)}
    finally:
        progress.close()
    done = complete(api, release["id"], body)
    with contextlib.suppress(FileNotFoundError):
        state_file(release["id"]).unlink()
    return done


def complete(api: Api, release_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Declare the SHA-256 (and parts); retried after a gateway error, which the API answers as the first call."""
    for attempt in range(COMPLETE_ATTEMPTS):
        if attempt:
            time.sleep(min(RETRY_BASE_SECONDS * 2**attempt, 8))
        try:
            return dict(api.call("POST", f"/releases/{release_id}/upload/complete", body))
        except ApiError as exc:
            if exc.status not in (502, 503, 504) or attempt == COMPLETE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def complete_again(api: Api, release: dict[str, Any], path: Path, *, show_progress: bool) -> dict[str, Any]:
    """A POST upload whose completion was lost (the token expired, the network dropped): the file is in S3,
    so hash it here and declare it again; nothing is sent."""
    size = _declared_size(release, path)
    progress = Progress(size, f"hashing {path.name}", enabled=show_progress)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
                progress.advance(len(chunk))
    finally:
        progress.close()
    return complete(api, release["id"], {"sha256": digest.hexdigest()})


def show_progress(json_output: bool, stream: Any = None) -> bool:
    stream = stream or sys.stderr
    return not json_output and bool(getattr(stream, "isatty", lambda: False)())
