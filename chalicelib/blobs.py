"""S3 adapter for release packages: presigned uploads, verification reads, short-lived download URLs."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.errors import NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

UPLOAD_PREFIX = "uploads/"
REJECTED_PREFIX = "rejected/"
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
