"""The local S3 as S3 is with a bucket that encrypts with KMS, and as strict about a part's Content-MD5.

moto 5.1 differs from S3 in three ways that matter to ``patchctl``'s multipart upload once ``KmsKeyArn`` is set:

- S3 encrypts a multipart upload with the bucket's default encryption when the request names none; moto
  applies the default only to a PutObject, so its parts are never encrypted.
- Under SSE-KMS (and SSE-C) S3's ETag of an object or a part is **not** the MD5 of its bytes; moto's always is.
  Here a key encrypted with ``aws:kms`` has a 32-hex ETag of other bytes, as S3's looks: a client that
  compares it with the part's MD5 fails as it would on AWS (``tests/app/test_upload_kms.py``).
- S3 refuses a part whose ``Content-MD5`` is not the MD5 of the bytes it received (400 ``BadDigest``), under
  any encryption; moto ignores the header.

``install()`` (idempotent) patches moto in this process: the local AWS (``awsd``) and the tests' moto server.
Nothing changes for a bucket under SSE-S3 (the local stack's): its ETags stay MD5s.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from typing import Any

_installed = False
KMS = ("aws:kms", "aws:kms:dsse")


def _default_encryption(backend: Any, bucket_name: str) -> tuple[str | None, str | None]:
    """The bucket's default (SSEAlgorithm, KMSMasterKeyID), as PutBucketEncryption stored it."""
    config = backend.get_bucket_encryption(bucket_name) or {}
    rules = config.get("Rule") or []
    rule = rules[0] if isinstance(rules, list) and rules else rules
    default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
    return default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")


def _kms_etag(original: Any) -> Any:
    """S3's ETag of an SSE-KMS key: 32 hex digits, not the MD5 of the bytes (here: an MD5 of that MD5)."""

    @functools.wraps(original.fget)
    def etag(self: Any) -> str:
        plain = original.fget(self)
        if getattr(self, "encryption", None) not in KMS or "-" in plain:  # a multipart object's is "<hex>-<parts>"
            return str(plain)
        return f'"{hashlib.md5(b"sse-kms:" + plain.strip(chr(34)).encode(), usedforsecurity=False).hexdigest()}"'

    return property(etag)


def _bad_digest(given: str, body: bytes) -> bool:
    try:
        return base64.b64decode(given, validate=True) != hashlib.md5(body, usedforsecurity=False).digest()
    except (binascii.Error, ValueError):
        return True


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.responses import S3Response

    create = S3Backend.create_multipart_upload

    @functools.wraps(create)
    def create_multipart_upload(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        args_list = list(args)
        if len(args_list) >= 6 and args_list[4] is None:  # sse_encryption, kms_key_id: the bucket's default
            args_list[4], kms_key = _default_encryption(self, bucket_name)
            args_list[5] = args_list[5] or kms_key
        return create(self, bucket_name, key_name, *args_list, **kwargs)

    upload_part = S3Response.upload_part

    @functools.wraps(upload_part)
    def checked_upload_part(self: Any) -> Any:
        given = self.headers.get("Content-MD5")
        if given is not None and _bad_digest(given, self.body):
            raise S3ClientError("BadDigest", "The Content-MD5 you specified did not match what we received.")
        return upload_part(self)

    S3Backend.create_multipart_upload = create_multipart_upload  # type: ignore[method-assign]
    FakeKey.etag = _kms_etag(FakeKey.etag)  # type: ignore[method-assign, assignment]
    S3Response.upload_part = checked_upload_part  # type: ignore[method-assign]
    _installed = True
