"""Encryption at rest, stated on every resource that holds data: AWS-managed keys by default, the stack
parameter ``KmsKeyArn`` (one customer managed key for the stage) when it is given.

``infra/template.py`` states the default of each resource (the local stack creates it as it is); here each
statement becomes ``Fn::If HasKmsKey`` between the customer key and that default, so a default dropped from
the template is dropped here too and the scan (``infra/checks``) reports it.
"""

from __future__ import annotations

from typing import Any

KEY = {"Ref": "KmsKeyArn"}
NO_VALUE = {"Ref": "AWS::NoValue"}
CONDITION = "HasKmsKey"


def if_key(with_key: Any, without: Any) -> dict[str, Any]:
    return {"Fn::If": [CONDITION, with_key, without]}


def _queue(props: dict[str, Any]) -> None:
    # SSE-SQS by default, not the AWS-managed SQS key: S3 notifications and SNS cannot send to a queue under it
    props["SqsManagedSseEnabled"] = if_key(False, props.get("SqsManagedSseEnabled", NO_VALUE))
    props["KmsMasterKeyId"] = if_key(KEY, NO_VALUE)


def _topic(props: dict[str, Any]) -> None:
    # No default key: SES (feedback) and CloudWatch (alarms) cannot publish to a topic under the AWS-managed
    # SNS key, whose policy nobody can extend. A customer key's policy can let them (docs/deploy.md).
    props["KmsMasterKeyId"] = if_key(KEY, NO_VALUE)


def _table(props: dict[str, Any]) -> None:
    if "SSESpecification" in props:  # without a key: SSEEnabled, the AWS-managed DynamoDB key
        props["SSESpecification"] = {
            **props["SSESpecification"],
            "SSEType": if_key("KMS", NO_VALUE),
            "KMSMasterKeyId": if_key(KEY, NO_VALUE),
        }


def _bucket(props: dict[str, Any]) -> None:
    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    cmk = {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY},
        "BucketKeyEnabled": True,
    }
    if rules:
        props["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [if_key(cmk, rule) for rule in rules]}


def _secret(props: dict[str, Any]) -> None:
    props["KmsKeyId"] = if_key(KEY, "alias/aws/secretsmanager")


def _with_key_only(prop: str) -> Any:
    def state(props: dict[str, Any]) -> None:
        props[prop] = if_key(KEY, NO_VALUE)  # without: the service's own encryption, always on

    return state


_BY_TYPE = {
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Logs::LogGroup": _with_key_only("KmsKeyId"),
    "AWS::Serverless::Function": _with_key_only("KmsKeyArn"),  # its environment variables
}


def state_encryption(resources: dict[str, Any]) -> None:
    for resource in resources.values():
        state = _BY_TYPE.get(resource["Type"])
        if state is not None:
            state(resource.setdefault("Properties", {}))


def key_statement() -> dict[str, Any]:
    """What a function's role needs of the customer key (SQS send/receive, S3 objects and presigned URLs,
    the secret); nothing without one."""
    return if_key(
        {"Sid": "CustomerKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY},
        NO_VALUE,
    )
