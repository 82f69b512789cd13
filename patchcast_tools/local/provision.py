"""Create a stage's resources in the local AWS from ``infra/`` (the template production uses).

moto's CloudFormation creates most of it; the few things it skips or leaves out are applied here
from the same template: the bucket's versioning and Object Lock, its notification, TTL, the generated
signing-key secret, the feedback topic's subscription of its queue (with its attributes), and the SES
sender identity (which in AWS is verified once by a person, see the README) with its feedback topic.
"""

from __future__ import annotations

import json
import secrets
import string
import warnings
from typing import Any

import boto3

from chalicelib.names import ResourceNames
from infra.template import template


def _resolve_queue_arn(sqs: Any, resources: dict[str, Any], ref: dict[str, Any]) -> str:
    logical = ref["Fn::GetAtt"][0]
    name = resources[logical]["Properties"]["QueueName"]
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _generated_secret(spec: dict[str, Any]) -> str:
    doc = json.loads(spec["SecretStringTemplate"])
    alphabet = string.ascii_letters + string.digits
    doc[spec["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(spec["PasswordLength"]))
    return json.dumps(doc)


def _topic_arn(session: boto3.session.Session, resources: dict[str, Any], ref: dict[str, Any]) -> str:
    name = resources[ref["Ref"]]["Properties"]["TopicName"]
    return str(session.client("sns").create_topic(Name=name)["TopicArn"])  # exists already: returns its ARN


def _subscribe(session: boto3.session.Session, resources: dict[str, Any], props: dict[str, Any]) -> None:
    """An SNS subscription as the template declares it (moto's CloudFormation skips the type)."""
    sqs = session.client("sqs")
    attributes = {k: str(v).lower() for k, v in props.items() if k == "RawMessageDelivery"}
    session.client("sns").subscribe(
        TopicArn=_topic_arn(session, resources, props["TopicArn"]),
        Protocol=props["Protocol"],
        Endpoint=_resolve_queue_arn(sqs, resources, props["Endpoint"]),
        Attributes=attributes,
    )


def provision(stage: str, *, sender: str, session: boto3.session.Session | None = None) -> ResourceNames:
    session = session or boto3.session.Session()
    doc = template(stage)
    resources = doc["Resources"]
    stack = f"patchcast-{stage}"
    cfn = session.client("cloudformation")
    with warnings.catch_warnings():
        # moto names the types it skips; the loop below applies them, so the warning is noise here.
        warnings.filterwarnings("ignore", message="Tried to parse AWS::")
        cfn.create_stack(StackName=stack, TemplateBody=json.dumps(doc))
    status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack {stack} ended in {status}")

    sqs, s3, ddb = session.client("sqs"), session.client("s3"), session.client("dynamodb")
    for res in resources.values():
        props = res["Properties"]
        if res["Type"] == "AWS::S3::Bucket":
            _lock(s3, props)
        if res["Type"] == "AWS::S3::Bucket" and "NotificationConfiguration" in props:
            queue_configs: list[Any] = [
                {
                    "QueueArn": _resolve_queue_arn(sqs, resources, qc["Queue"]),
                    "Events": [qc["Event"]],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": r["Name"], "Value": r["Value"]} for r in qc["Filter"]["S3Key"]["Rules"]
                            ]
                        }
                    },
                }
                for qc in props["NotificationConfiguration"]["QueueConfigurations"]
            ]
            s3.put_bucket_notification_configuration(
                Bucket=props["BucketName"], NotificationConfiguration={"QueueConfigurations": queue_configs}
            )
        elif res["Type"] == "AWS::DynamoDB::Table":
            if ddb.meta.endpoint_url != cfn.meta.endpoint_url:  # DynamoDB served by another process
                _create_table(ddb, props)
            if not props.get("TimeToLiveSpecification"):
                continue
            ddb.update_time_to_live(
                TableName=props["TableName"], TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        elif res["Type"] == "AWS::SNS::Subscription":
            _subscribe(session, resources, props)
        elif res["Type"] == "AWS::SecretsManager::Secret":
            session.client("secretsmanager").create_secret(
                Name=props["Name"],
                Description=props.get("Description", ""),
                SecretString=_generated_secret(props["GenerateSecretString"]),
            )
    session.client("sesv2").create_email_identity(EmailIdentity=sender)
    _feedback_to_topic(session, sender, ResourceNames(stage).feedback_topic)
    return ResourceNames(stage)


def _lock(s3: Any, props: dict[str, Any]) -> None:
    """Versioning and Object Lock as the template declares them (moto's CloudFormation applies neither).

    CloudFormation turns Object Lock on when it creates the bucket; moto's PutObjectLockConfiguration takes it on
    the (still empty) versioned bucket afterwards.
    """
    bucket = props["BucketName"]
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    if props.get("ObjectLockEnabled"):
        config = props.get("ObjectLockConfiguration", {"ObjectLockEnabled": "Enabled"})
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)


def _create_table(ddb: Any, props: dict[str, Any]) -> None:
    """The table where DynamoDB is served, from the template's own definition (CloudFormation made its
    copy in the process that serves CloudFormation)."""
    wanted = ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
    ddb.create_table(**{k: props[k] for k in wanted if k in props})
    ddb.get_waiter("table_exists").wait(TableName=props["TableName"], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})


def _feedback_to_topic(session: boto3.session.Session, sender: str, topic: str) -> None:
    """Bounces and complaints to the feedback topic. In AWS the configuration set's event destination
    does this; moto has none, but publishes simulator feedback to the topic an identity names (SES v1,
    looked up by the sender's domain)."""
    arn = session.client("sns").create_topic(Name=topic)["TopicArn"]  # exists already: returns its ARN
    ses = session.client("ses")
    for kind in ("Bounce", "Complaint"):
        ses.set_identity_notification_topic(Identity=sender.rpartition("@")[2], NotificationType=kind, SnsTopic=arn)
