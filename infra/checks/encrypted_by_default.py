"""A checkov check of this project: data stays encrypted at rest when the stage has no customer key.

checkov's own checks (CKV_AWS_27 for queues, ...) see the ``KmsKeyArn`` option (``Fn::If``) and pass,
whatever the template does without a key; this one reads the branch a stage without a key deploys.
Loaded by ``tests/infra/test_scan.py`` (``--external-checks-dir infra/checks``).
"""

from __future__ import annotations

from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

_DROP = object()


def without_key(node: Any) -> Any:
    """The value CloudFormation makes of ``node`` when ``HasKmsKey`` is false."""
    if isinstance(node, dict):
        if set(node) & {"Fn::If"} and node["Fn::If"][0] == "HasKmsKey":
            return without_key(node["Fn::If"][2])
        if node.get("Ref") == "AWS::NoValue":
            return _DROP
        kept = {k: without_key(v) for k, v in node.items() if not str(k).startswith("__")}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(node, list):
        return [v for v in (without_key(v) for v in node) if v is not _DROP]
    return node


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class EncryptedWithoutCustomerKey(BaseResourceCheck):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Queues, the table and the bucket are encrypted at rest without a customer key too",
            id="CKV_PATCHCAST_1",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        props = without_key(conf.get("Properties") or {})
        kind = conf.get("Type")
        if kind == "AWS::SQS::Queue":
            ok = _true(props.get("SqsManagedSseEnabled")) or bool(props.get("KmsMasterKeyId"))
        elif kind == "AWS::DynamoDB::Table":
            ok = _true((props.get("SSESpecification") or {}).get("SSEEnabled"))
        else:
            ok = bool((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration"))
        return CheckResult.PASSED if ok else CheckResult.FAILED


check = EncryptedWithoutCustomerKey()
