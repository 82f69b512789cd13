"""What a release's body may say: ``POST /releases`` and ``PATCH /releases/{id}`` validated field by field,
each refusal a 400 naming the field (the product, version and SHA-256 rules shared with announcements and
the upload's completion)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.core import timestamps, versions
from chalicelib.domain.core import validation as v
from chalicelib.domain.core.entitlements import CHANNELS, KINDS
from chalicelib.domain.core.errors import BadRequest

EDIT_FIELDS = ("title", "summary", "notify_at", "draft", "applies_to")
CREATE_FIELDS = ("product", "version", "kind", "severity", "channel", "title", "summary", "filename", "size",
                 "sha256", "article_url", "notify_at", "draft", "applies_to")  # fmt: skip
# The largest file accepted: verification reads it all in one on_upload invocation (300 s at 512 MB). At a
# conservative 30 MiB/s from S3 that is 171 s, well inside the timeout (docs/releases.md, "Size limit").
MAX_FILE_SIZE = 5 * 1024**3
# Whole-value patterns (fullmatch): "$" would also accept a final newline.
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,199}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def _file_fields(body: dict[str, Any], kind: str) -> dict[str, Any]:
    article_url = body.get("article_url")
    if article_url is not None:
        if kind != "critical-solution":
            raise BadRequest("Field 'article_url' is only for critical-solution articles.", code="invalid_field")
        if not isinstance(article_url, str) or not article_url.startswith("https://") or len(article_url) > 2000:
            raise BadRequest(
                "Field 'article_url' must be an https:// URL of at most 2000 characters.", code="invalid_field"
            )
        if any(body.get(f) is not None for f in ("filename", "size", "sha256")):
            raise BadRequest(
                "Give either a file (filename, size, sha256) or an article_url, not both.", code="invalid_field"
            )
        return {"article_url": v.safe(article_url, "article_url")}
    filename = body.get("filename")
    if isinstance(filename, str):
        v.safe(filename, "filename")  # names the character, before the pattern's general refusal
    if not isinstance(filename, str) or not _FILENAME.fullmatch(filename) or filename in (".", ".."):
        raise BadRequest(
            "Field 'filename' must be a plain file name (letters, digits, space, . _ + ( ) -; no path separators or control characters).",
            code="invalid_field",
        )
    size = v.integer(body, "size", low=1, high=MAX_FILE_SIZE)
    # The SHA-256 may come now or with POST /releases/{id}/upload/complete (a client that hashes while it
    # uploads knows it only at the end); verification waits until it is known.
    return {"filename": filename, "size": size, "sha256": sha256_field(body, required=False)}


def sha256_field(body: dict[str, Any], *, required: bool) -> str | None:
    sha256 = body.get("sha256")
    if sha256 is None and not required:
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BadRequest("Field 'sha256' must be 64 lowercase hexadecimal characters.", code="invalid_field")
    return sha256


def parse_product(body: dict[str, Any], known_products: set[str]) -> str:
    product = v.identifier(body, "product")
    if product not in known_products:
        raise v.unknown_products([str(product)], known_products)
    return str(product)


def parse_new(body: dict[str, Any], *, known_products: set[str]) -> dict[str, Any]:
    v.reject_unknown(body, CREATE_FIELDS)
    product = parse_product(body, known_products)
    version = parse_version(body)
    kind = v.choice(body, "kind", KINDS)
    notify_at = _future(body)
    return {
        "product": product,
        "version": version,
        "kind": kind,
        "severity": v.integer(body, "severity", low=1, high=4),
        "channel": v.choice(body, "channel", CHANNELS, default="ga"),
        "title": _title(body),
        "summary": _summary(body),
        "notify_at": notify_at,
        "draft": v.boolean(body, "draft", default=False),
        "applies_to": _applies_to(body),
        **_file_fields(body, kind),
    }


def parse_version(body: dict[str, Any]) -> str:
    version = body.get("version")
    if isinstance(version, str):
        v.safe(version, "version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise BadRequest(
            "Field 'version' must be letters, digits, '.', '_', '+' or '-' (at most 64).", code="invalid_field"
        )
    return version


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _future(body: dict[str, Any]) -> str | None:
    notify_at = timestamps.timestamp(body, "notify_at")
    if notify_at is not None and notify_at <= datetime.now(UTC):
        raise BadRequest("Field 'notify_at' is in the past.", code="invalid_field")
    return _iso(notify_at) if notify_at else None


def _title(body: dict[str, Any]) -> str:
    return str(v.text(body, "title", max_len=200))


def _summary(body: dict[str, Any]) -> str:
    return v.text(body, "summary", max_len=4000, required=False, multiline=True) or ""


def _applies_to(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The version lines the release is for; absent or null: every line. Its own ``version`` need not fall under
    them (docs/releases.md, "Version lines")."""
    value = body.get("applies_to")
    return None if value is None else versions.lines(value, "applies_to")


_EDITORS = {
    "title": _title,
    "summary": _summary,
    "notify_at": _future,
    "draft": lambda body: v.boolean(body, "draft", default=False),
    "applies_to": lambda body: list(lines) if (lines := _applies_to(body)) else None,
}


def parse_edit(body: dict[str, Any]) -> dict[str, Any]:
    """PATCH's fields, validated as create validates them; ``notify_at: null`` unschedules."""
    v.reject_unknown(body, EDIT_FIELDS)
    if not body:
        raise BadRequest(f"Give at least one of {', '.join(EDIT_FIELDS)}.", code="missing_field")
    return {name: _EDITORS[name](body) for name in EDIT_FIELDS if name in body}


def _number(value: str) -> int | str:
    """A query string's number as the int ``validation.integer`` checks (anything else stays a string it refuses)."""
    return int(value) if value.isdigit() and len(value) < 6 else value
