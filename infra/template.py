"""Every stateful resource of one stage, described once as CloudFormation.

The local stack creates this template in moto's CloudFormation; ``make package`` merges it into the
template ``chalice package`` writes for AWS. Names follow ``chalicelib.names`` so the app and its
decorators agree with what exists.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from chalicelib.names import ResourceNames

FUNCTION_TIMEOUT = {
    "uploads": 300,
    "fanout": 60,
    "deliver": 120,
    "deliver-critical": 120,
    "feedback": 60,
    "accounts": 60,
    "scheduled": 120,
    "digests": 120,
}
VISIBILITY_FACTOR = 6  # AWS's advice for SQS-triggered Lambdas: visibility >= 6x the function timeout
MAX_RECEIVES = 3


def _queue(name: str, timeout: int) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": name,
            "VisibilityTimeout": timeout * VISIBILITY_FACTOR,
            "MessageRetentionPeriod": 4 * 86400,
            "SqsManagedSseEnabled": True,
        },
    }


def _logical(suffix: str) -> str:
    return "".join(part.capitalize() for part in suffix.split("-"))


# Data resources are retained when the stack is deleted or would replace them: the data outlives the stack.
def resources(stage: str) -> dict[str, Any]:
    n = ResourceNames(stage)
    res: dict[str, Any] = {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": n.table,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": a, "AttributeType": "S"}
                    for a in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
                ],
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": gsi,
                        "KeySchema": [
                            {"AttributeName": f"{gsi}PK", "KeyType": "HASH"},
                            {"AttributeName": f"{gsi}SK", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for gsi in ("GSI1", "GSI2")
                ],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
        "PackagesBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": n.bucket,
                # A verified build is locked per version at verification (chalicelib/domain/releases/publishing.py, governance
                # mode), not by a default rule: uploads awaiting verification and rejected ones stay removable.
                # Object Lock needs versioning, and cannot be turned off again once on.
                "VersioningConfiguration": {"Status": "Enabled"},
                "ObjectLockEnabled": True,
                "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "abandoned-multipart",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        },
                        {"Id": "rejected-uploads", "Status": "Enabled", "Prefix": "rejected/", "ExpirationInDays": 30},
                        # Versions no longer current: a rejected upload moved aside, a write over a released
                        # build. Lifecycle cannot remove a version while its retention runs: a build stays.
                        {
                            "Id": "noncurrent-versions",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            "ExpiredObjectDeleteMarker": True,
                        },
                    ]
                },
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": {"Fn::GetAtt": ["UploadsQueue", "Arn"]},
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
                        }
                    ]
                },
            },
            "DependsOn": ["UploadsQueuePolicy"],
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
        "PackagesBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "PackagesBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{n.bucket}"},
                                {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{n.bucket}/*"},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "FeedbackTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": n.feedback_topic}},
        "SigningKeys": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": n.signing_secret,
                "Description": "HMAC keys for Patchcast link tokens: {current: kid, kid: secret}",
                "GenerateSecretString": {
                    "SecretStringTemplate": json.dumps({"current": "k1"}),
                    "GenerateStringKey": "k1",
                    "PasswordLength": 64,
                    "ExcludePunctuation": True,
                },
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    }
    for suffix, queue_name in (
        ("uploads", n.uploads_queue),
        ("fanout", n.fanout_queue),
        ("deliver", n.deliver_queue),
        ("deliver-critical", n.critical_queue),
        ("feedback", n.feedback_queue),
        ("accounts", n.accounts_queue),
        ("scheduled", n.scheduled_queue),
        ("digests", n.digest_queue),
    ):
        logical = _logical(suffix) + "Queue"
        res[logical + "Dlq"] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{queue_name}-dlq",
                "MessageRetentionPeriod": 14 * 86400,
                "SqsManagedSseEnabled": True,
            },
        }
        queue = _queue(queue_name, FUNCTION_TIMEOUT[suffix])
        queue["Properties"]["RedrivePolicy"] = {
            "deadLetterTargetArn": {"Fn::GetAtt": [logical + "Dlq", "Arn"]},
            "maxReceiveCount": MAX_RECEIVES,
        }
        res[logical] = queue
    res.update(_mail(n))
    res.update(_feedback_queue(n))
    res.update(_users(stage))
    res["UploadsQueuePolicy"] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": "UploadsQueue"}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": {"Fn::GetAtt": ["UploadsQueue", "Arn"]},
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{n.bucket}"}},
                            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                        },
                    }
                ],
            },
        },
    }
    return res


# What SES reports to the feedback topic: only what chalicelib/domain/subscriptions/feedback.py acts on (bounces and complaints
# suppress, a reject is logged as an error). SEND and DELIVERY would cost two invocations per email for
# nothing: the report counts from the delivery records, not from SES events.
MAIL_EVENTS = ["BOUNCE", "COMPLAINT", "REJECT"]


def _feedback_queue(n: ResourceNames) -> dict[str, Any]:
    """The feedback topic feeds its queue (raw: the SQS body is SES's JSON itself), so a failed feedback
    invocation is retried and then kept in the DLQ, as every other handler's message is."""
    return {
        "FeedbackSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "FeedbackTopic"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["FeedbackQueue", "Arn"]},
                "RawMessageDelivery": True,
            },
            "DependsOn": ["FeedbackQueuePolicy"],
        },
        "FeedbackQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "FeedbackQueue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "FeedbackTopicOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["FeedbackQueue", "Arn"]},
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "FeedbackTopic"}}},
                        }
                    ],
                },
            },
        },
    }


def _mail(n: ResourceNames) -> dict[str, Any]:
    """The SES configuration set every send names, publishing its events to the feedback topic."""
    return {
        "MailConfigurationSet": {
            "Type": "AWS::SES::ConfigurationSet",
            "Properties": {
                "Name": n.configuration_set,
                "ReputationOptions": {"ReputationMetricsEnabled": True},
                "SendingOptions": {"SendingEnabled": True},
            },
        },
        "MailFeedbackDestination": {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "Properties": {
                "ConfigurationSetName": {"Ref": "MailConfigurationSet"},
                "EventDestination": {
                    "Name": "feedback-topic",
                    "Enabled": True,
                    "MatchingEventTypes": MAIL_EVENTS,
                    "SnsDestination": {"TopicARN": {"Ref": "FeedbackTopic"}},
                },
            },
            "DependsOn": ["FeedbackTopicPolicy"],
        },
        "FeedbackTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "FeedbackTopic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "SesEventsOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "ses.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": "FeedbackTopic"},
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceAccount": {"Ref": "AWS::AccountId"},
                                    "AWS:SourceArn": {
                                        "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
                                        f":configuration-set/{n.configuration_set}"
                                    },
                                }
                            },
                        }
                    ],
                },
            },
        },
    }


USER_GROUPS = {"release-engineers": "Create, publish and recall releases", "support-admins": "Load support contracts"}


# The API's address as ``chalice package`` names it; ``infra/aws.py`` puts the stage's public URL in its place.
DEFAULT_API_URL: dict[str, Any] = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}


def portal_oauth(api_url: Any) -> dict[str, Any]:
    """The app client's settings for the portal's sign-in: the authorization code flow only (PKCE is the
    portal's; a public client has no secret), openid and email scopes, and the portal's own callback and
    signed-out page under the stage's API address as the only places Cognito sends a browser back to."""
    at = lambda path: {"Fn::Join": ["", [api_url, path]]}  # noqa: E731
    return {
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": ["openid", "email"],
        "SupportedIdentityProviders": ["COGNITO"],
        "CallbackURLs": [at("/portal/callback")],
        "LogoutURLs": [at("/portal/signed-out")],
    }


def _users(stage: str) -> dict[str, Any]:
    """The JWT issuer in AWS: a Cognito user pool, its two staff groups and the app client whose ID tokens
    the API accepts. Users are created by an administrator only; ``custom:account_id`` (the customer's
    account) is readable but not writable through the app client, so no user can move to another account."""
    res: dict[str, Any] = {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UserPoolName": f"patchcast-{stage}-users",
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                # belt and braces: a changed address takes effect only once verified
                "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 14,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": False,
                        "TemporaryPasswordValidityDays": 3,
                    }
                },
                "Schema": [
                    {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                    {
                        "Name": "account_id",
                        "AttributeDataType": "String",
                        "Mutable": True,
                        "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"},
                    },
                ],
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": f"patchcast-{stage}-api",
                "GenerateSecret": False,
                # SRP for web sign-in; password auth so that engineers get a token with the AWS CLI (docs/deploy.md)
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "PreventUserExistenceErrors": "ENABLED",
                "IdTokenValidity": 60,
                "AccessTokenValidity": 60,
                "RefreshTokenValidity": 30,
                "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"},
                "ReadAttributes": ["email", "email_verified", "custom:account_id"],
                # No user may change their own address (it reaches the download audit and ``lifted_by``):
                # only an administrator writes email. Left out, WriteAttributes would allow every standard
                # attribute, so one harmless attribute is named.
                "WriteAttributes": ["locale"],
                **portal_oauth(DEFAULT_API_URL),
            },
        },
        # The managed login the portal signs in through (https://<prefix>.auth.<region>.amazoncognito.com)
        "UserPoolDomain": {
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "Domain": {"Fn::Sub": f"patchcast-{stage}-${{AWS::AccountId}}"},
            },
        },
    }
    for group, description in USER_GROUPS.items():
        res[_logical(group) + "Group"] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"GroupName": group, "Description": description, "UserPoolId": {"Ref": "UserPool"}},
        }
    return res


def template(stage: str) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Patchcast ({stage}): stateful resources",
        "Resources": resources(stage),
    }


if __name__ == "__main__":
    json.dump(template(sys.argv[1] if len(sys.argv) > 1 else "local"), sys.stdout, indent=2)
