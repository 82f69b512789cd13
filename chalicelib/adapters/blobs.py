"""S3 adapter for release packages: presigned uploads, verification reads, retention, short-lived download URLs.

The bucket is versioned with S3 Object Lock enabled (infra/template.py): verification reads one version of
an upload, locks that version, and downloads name it, so nothing written later under the key is ever served.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from chalicelib.domain.core.errors import BadRequest, NotFound
from chalicelib.domain.core.records import Stored
from chalicelib.names import REJECTED_PREFIX, UPLOAD_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectLockRetentionTypeDef

_CHUNK = 1024 * 1024
MAX_COPY_OBJECT = 5 * 1024**3  # S3 refuses a single CopyObject of a larger source
COPY_PART = 512 * 1024**2  # above this, move_aside copies in parts (UploadPartCopy), well below MAX_COPY_OBJECT
# A HeadObject of a missing key answers 404 only to a caller with s3:ListBucket on the bucket, 403 to anyone
# else. No function is granted ListBucket (it would list every package), and every key a function heads is
# one its policy grants s3:GetObject on (tests/app/test_least_privilege.py), so a 403 there means "no such key".
_MISSING = ("404", "NoSuchKey", "NotFound", "403", "Forbidden", "AccessDenied")
# Governance, not compliance: a verified build must stay put against the functions, a stolen role, a mistake,
# yet a court order or a licence problem must be able to remove it (docs/deploy.md, legal removal).
RETENTION_MODE: Final = "GOVERNANCE"


def client_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The botocore ``Config`` arguments of the S3 client whose URLs we hand out.

    Left to itself (``auto`` addressing) botocore presigns for the global host ``bucket.s3.amazonaws.com`` in
    every Region: for up to a day after a bucket is created S3 answers it with a 307 to the Regional host,
    where a signature made for the global host no longer matches, and Regions opened since March 2019 refuse
    it. ``virtual`` addressing gives ``bucket.s3.<region>.amazonaws.com`` (partition-aware, from botocore's
    endpoint rules), except in us-east-1, which also needs ``us_east_1_regional_endpoint``. With an endpoint
    override (the local AWS, through ``AWS_ENDPOINT_URL``) botocore's URLs are path-style on that address;
    ``virtual`` would put the bucket in front of a host name (``bucket.localhost``), so it is not set then.
    """
    if env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"):
        return {"signature_version": "s3v4"}
    return {
        "signature_version": "s3v4",
        "s3": {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Blobs:
    def __init__(self, client: S3Client, bucket: str, *, copy_part: int = COPY_PART) -> None:
        self._s3 = client
        self.bucket = bucket
        self._copy_part = copy_part

    def presigned_post(self, key: str, *, size: int, expires: int = 3600) -> dict[str, Any]:
        """A form POST that S3 accepts only for exactly ``size`` bytes at exactly ``key``."""
        post = self._s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[["content-length-range", size, size]],
            ExpiresIn=expires,
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}

    # -- multipart (files above the threshold) ----------------------------------------------------
    def start_multipart(self, key: str) -> str:
        return str(self._s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"])

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def presigned_part(self, key: str, upload_id: str, part_number: int, *, expires: int = 3600) -> str:
        return self._s3.generate_presigned_url(
            "upload_part",
            Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
            ExpiresIn=expires,
        )

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Assemble the parts; S3 checks each ETag and the 5 MiB minimum of every part but the last.

        NotFound when S3 knows no such upload: aborted, or already assembled (S3 forgets an upload it completed).
        """
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        except ClientError as exc:
            code = _code(exc)
            if code == "NoSuchUpload":
                raise NotFound(f"S3 knows no multipart upload {upload_id} of {key}", code="no_such_upload") from exc
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"):
                raise BadRequest(
                    f"S3 refused to assemble the parts ({code}): {exc.response.get('Error', {}).get('Message', '')}",
                    code="upload_incomplete",
                ) from exc
            raise

    def exists(self, key: str) -> bool:
        try:
            self.size_of(key)
        except NotFound:
            return False
        return True

    def stat(self, key: str) -> Stored:
        """The key's current version: its id, size and S3's full-object SHA-256 (one HeadObject).

        The SHA-256 is None for a composite checksum (multipart: a hash of the parts' hashes, not of the file)
        and for objects uploaded without a checksum; the caller then hashes that version's stream.
        """
        head = self._head(key, ChecksumMode="ENABLED")
        value = head.get("ChecksumSHA256")
        full = bool(value) and "-" not in value and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        version = head.get("VersionId")
        return Stored(
            version_id=None if version in (None, "", "null") else str(version),
            size=int(head["ContentLength"]),
            sha256=base64.b64decode(value).hex() if full else None,
        )

    def size_of(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def _head(self, key: str, **extra: Any) -> Any:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"object {key} does not exist") from exc
            raise

    def sha256_of(self, key: str, version_id: str) -> str:
        """Hash one version as a stream, a megabyte at a time (memory stays flat whatever the size)."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
        return digest.hexdigest()

    def retain(self, key: str, version_id: str, *, until: datetime) -> None:
        """Lock one version against overwrite and deletion until ``until`` (S3 Object Lock, governance mode).

        Only a later date is accepted without a governance bypass, so a retried verification can only extend it.
        """
        retention: ObjectLockRetentionTypeDef = {"Mode": RETENTION_MODE, "RetainUntilDate": until}
        self._s3.put_object_retention(Bucket=self.bucket, Key=key, VersionId=version_id, Retention=retention)

    def move_aside(self, key: str) -> str:
        from boto3.s3.transfer import TransferConfig

        target = REJECTED_PREFIX + key.removeprefix(UPLOAD_PREFIX)
        # A rejected multipart upload can be far above the 5 GB one CopyObject takes: boto3's managed copy
        # assembles such an object from UploadPartCopy parts (server side, nothing passes through the Lambda).
        config = TransferConfig(multipart_threshold=self._copy_part, multipart_chunksize=self._copy_part)
        self._s3.copy({"Bucket": self.bucket, "Key": key}, self.bucket, target, Config=config)
        # Versioned bucket: this delete only adds a delete marker, the rejected version stays (never locked, so
        # the lifecycle's noncurrent-version rule removes it; the copy under rejected/ is what people inspect).
        self._s3.delete_object(Bucket=self.bucket, Key=key)
        return target

    def download_url(self, key: str, *, version_id: str | None, filename: str, expires: int = 300) -> str:
        """A presigned GET of exactly ``version_id`` of ``key`` (a later write under the key is never served).

        ``version_id`` None only for a release verified before the bucket kept versions: then the current object.
        """
        safe = filename.replace('"', "").replace("\\", "")
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{safe}"'}
        if version_id is not None:
            params["VersionId"] = version_id
        return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
