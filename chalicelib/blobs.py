"""S3 adapter for release packages: presigned uploads, verification reads, short-lived download URLs."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.errors import BadRequest, NotFound
from chalicelib.names import REJECTED_PREFIX, UPLOAD_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CHUNK = 1024 * 1024


class Blobs:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

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
        """Assemble the parts; S3 checks each ETag and the 5 MiB minimum of every part but the last."""
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload", "MalformedXML"):
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

    def verified_sha256(self, key: str) -> str | None:
        """The object's full-object SHA-256 as S3 verified it on arrival (hex), when S3 has one.

        None for a composite checksum (multipart: a hash of the parts' hashes, not of the file) and for
        objects uploaded without a checksum; the caller then hashes the stream.
        """
        head = self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        value = head.get("ChecksumSHA256")
        if not value or "-" in value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
            return None
        return base64.b64decode(value).hex()

    def size_of(self, key: str) -> int:
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFound(f"object {key} does not exist") from exc
            raise

    def sha256_of(self, key: str) -> str:
        """Hash the object as a stream, a megabyte at a time (memory stays flat whatever the size)."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
        return digest.hexdigest()

    def move_aside(self, key: str) -> str:
        target = REJECTED_PREFIX + key.removeprefix(UPLOAD_PREFIX)
        self._s3.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": key})
        self._s3.delete_object(Bucket=self.bucket, Key=key)
        return target

    def download_url(self, key: str, *, filename: str, expires: int = 300) -> str:
        safe = filename.replace('"', "").replace("\\", "")
        return self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{safe}"',
            },
            ExpiresIn=expires,
        )
