"""Two answers of S3 that moto does not give, installed on the app's S3 client for the whole session.

- Without ``s3:ListBucket`` (no function has it), a HeadObject of a missing key answers **403**, not 404.
- S3 forgets a multipart upload once it assembled it: completing it again answers **NoSuchUpload** (moto
  completes it a second time), which is what a retry after a gateway timeout meets.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def _forbidden_when_missing(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    if http_response.status_code == 404:
        http_response.status_code = 403
        parsed["Error"] = {"Code": "403", "Message": "Forbidden"}
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403


class _ForgetsCompletedUploads:
    def __init__(self) -> None:
        self.completed: set[str] = set()

    def before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        upload_id = params.get("UploadId", "")
        if upload_id in self.completed:
            error = {"Code": "NoSuchUpload", "Message": "The specified upload does not exist."}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 404}}, "CompleteMultipartUpload")
        context["double_upload_id"] = upload_id

    def after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 200 and context.get("double_upload_id"):
            self.completed.add(context["double_upload_id"])


def behave_as_aws(client: Any) -> None:
    client.meta.events.register("after-call.s3.HeadObject", _forbidden_when_missing)
    forgets = _ForgetsCompletedUploads()
    client.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload", forgets.before)
    client.meta.events.register("after-call.s3.CompleteMultipartUpload", forgets.after)
