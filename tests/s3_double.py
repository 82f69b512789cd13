"""Two answers of S3 that moto does not give, installed on the app's S3 client for the whole session.

- Without ``s3:ListBucket`` (no function has it), a HeadObject of a missing key answers **403**, not 404.
- S3 forgets a multipart upload once it assembled or aborted it: completing it then answers **NoSuchUpload**
  (moto completes it a second time, and answers 500 for an aborted one), which is what a retry after a gateway
  timeout meets.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def _forbidden_when_missing(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    if http_response.status_code == 404:
        http_response.status_code = 403
        parsed["Error"] = {"Code": "403", "Message": "Forbidden"}
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403


class _ForgetsFinishedUploads:
    def __init__(self) -> None:
        self.finished: set[str] = set()

    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        upload_id = params.get("UploadId", "")
        if upload_id in self.finished:
            error = {"Code": "NoSuchUpload", "Message": "The specified upload does not exist."}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 404}}, model.name)
        context["double_upload_id"] = upload_id

    def after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code < 300 and context.get("double_upload_id"):
            self.finished.add(context["double_upload_id"])


def behave_as_aws(client: Any) -> None:
    client.meta.events.register("after-call.s3.HeadObject", _forbidden_when_missing)
    forgets = _ForgetsFinishedUploads()
    for operation in ("CompleteMultipartUpload", "AbortMultipartUpload"):
        client.meta.events.register(f"before-parameter-build.s3.{operation}", forgets.before)
        client.meta.events.register(f"after-call.s3.{operation}", forgets.after)
