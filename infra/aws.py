"""What only AWS gets on top of ``infra/template.py``: deploy parameters, alarms, the dashboard, the
encryption keys, the API's access log and tracing, and the wiring of the functions ``chalice package``
generates (environment, names, log groups, policies, gateway responses, the security scan's exceptions).

``merge_template`` is handed to ``chalice package --merge-template``; ``finish`` edits the merged
template, function by function, so handlers added later get the same treatment without edits here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from chalicelib.names import ResourceNames
from infra import encryption, observe, scan
from infra.template import MAX_RECEIVES, portal_oauth, template

LOG_RETENTION_DAYS = 90
# Lambda's default concurrency quota per account and Region, and what it keeps unreserved: the functions'
# reserved_concurrency (.chalice/config.json) must add up to at most the difference (docs/deploy.md).
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MINIMUM = 100
BOUNCE_RATE_ALARM = 0.04  # SES puts an account under review at 5 %
COMPLAINT_RATE_ALARM = 0.0008  # ... and at 0.1 %
COGNITO_ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"

PUBLIC_URL_PATTERN = r"^(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*[^\s?#/])?)?$"
PARAMETERS: dict[str, dict[str, Any]] = {
    "SenderAddress": {
        "Type": "String",
        "Description": "From address of every email, in a domain verified in SES (e.g. alerts@example.com)",
        "AllowedPattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    },
    "SesDomain": {
        "Type": "String",
        "Description": "The SES-verified domain (with DKIM) the sender address belongs to (e.g. example.com)",
        "AllowedPattern": r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
    },
    "AlarmEmail": {"Type": "String", "Default": "", "Description": "Who gets the alarms (empty: nobody yet)"},
    "PublicUrl": {
        "Type": "String",
        "Default": "",
        "Description": "Base URL of the API in emailed links, e.g. a custom domain (empty: the API Gateway URL)",
        # The portal's callback is this + "/portal/callback": a trailing slash would register "...//portal/callback",
        # which the app (it strips the slash) never sends, and nobody could sign in.
        "AllowedPattern": PUBLIC_URL_PATTERN,
        "ConstraintDescription": "https://host[:port][/path] without a trailing slash, or empty",
    },
    "JwtIssuer": {"Type": "String", "Default": "", "Description": "Another OIDC issuer (empty: the user pool)"},
    "JwtAudience": {"Type": "String", "Default": "", "Description": "Its audience (with JwtIssuer)"},
    "JwksUrl": {"Type": "String", "Default": "", "Description": "Its JWKS URL (with JwtIssuer)"},
    "KmsKeyArn": {
        "Type": "String",
        "Default": "",
        "Description": "A customer managed KMS key for queues, topics, table, bucket, secret, logs and function "
        "environments (empty: AWS-managed keys; docs/deploy.md lists the key policy it needs)",
        "AllowedPattern": r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+)?$",
    },
}
CONDITIONS = {
    "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
    "HasPublicUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "PublicUrl"}, ""]}]},
    "UseUserPool": {"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]},
    "HasKmsKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]},
}

# Cognito's own sender allows a few dozen emails a day, and every customer contact is an admin-created user
# who gets an invitation: send them through the project's SES identity and configuration set instead
# (Cognito's service-linked role sends; bounces and complaints reach the feedback queue like any notice's).
USER_POOL_EMAIL = {
    "EmailSendingAccount": "DEVELOPER",
    "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SesDomain}"},
    "From": {"Ref": "SenderAddress"},
    "ConfigurationSet": {"Ref": "MailConfigurationSet"},
}

# API Gateway answers these itself, before or instead of the app: keep the API's error format
# (docs/deploy.md lists them). An unknown path, or a method a path does not have, is its "missing token".
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, "unauthorized", "A bearer token is required."),
    "ACCESS_DENIED": (403, "forbidden", "This token does not allow this request."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "There is no such route (path and method)."),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "The request is too large."),
    "THROTTLED": (429, "too_many_requests", "Too many requests; slow down and try again."),
    "INTEGRATION_TIMEOUT": (504, "timeout", "The request took too long; try again."),
}


XRAY_STATEMENT = {
    "Sid": "Traces",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": "*",  # X-Ray has no resource-level permissions for these
}


def _alarm(description: str, metric: dict[str, Any], threshold: float, *, statistic: str = "Maximum") -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **metric,
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def bucket_name(stage: str) -> str:
    """The packages bucket's name in AWS, where bucket names are global: the stage's, with the account id and
    Region (a stage in a second account or Region gets its own; nobody else can hold it first)."""
    return f"{ResourceNames(stage).bucket}-${{AWS::AccountId}}-${{AWS::Region}}"


def merge_template(stage: str) -> dict[str, Any]:
    """infra/template.py plus the AWS-only resources that do not depend on the app's functions."""
    doc = template(stage, bucket=bucket_name(stage))
    res = doc["Resources"]
    res["AlarmTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"patchcast-{stage}-alarms"}}
    res["AlarmEmailSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": "HasAlarmEmail",
        "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
    }
    for logical in [k for k, v in res.items() if v["Type"] == "AWS::SQS::Queue" and k.endswith("Dlq")]:
        res[f"{logical}DepthAlarm"] = _alarm(
            f"Messages in {res[logical]['Properties']['QueueName']}: a handler failed them {MAX_RECEIVES} times",
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical, "QueueName"]}}],
            },
            1,
        )
    for name, metric, threshold in (
        ("SesBounceRateAlarm", "Reputation.BounceRate", BOUNCE_RATE_ALARM),
        ("SesComplaintRateAlarm", "Reputation.ComplaintRate", COMPLAINT_RATE_ALARM),
    ):
        res[name] = _alarm(
            f"SES {metric} >= {threshold:.2%}: below the rate at which SES reviews the account",
            {"Namespace": "AWS/SES", "MetricName": metric},
            threshold,
        )
    res["DeliveryDashboard"] = observe.dashboard(
        stage, sorted(r["Properties"]["QueueName"] for k, r in res.items() if k.endswith("QueueDlq"))
    )
    res["UserPool"]["Properties"]["EmailConfiguration"] = copy.deepcopy(USER_POOL_EMAIL)
    res["UserPool"]["DependsOn"] = ["MailConfigurationSet"]
    doc["Parameters"] = copy.deepcopy(PARAMETERS)
    doc["Conditions"] = copy.deepcopy(CONDITIONS)
    doc["Outputs"] = {
        "UserPoolId": {"Value": {"Ref": "UserPool"}},
        "UserPoolClientId": {"Value": {"Ref": "UserPoolClient"}},
        "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        "PackagesBucketName": {"Value": {"Ref": "PackagesBucket"}},
        "SigningKeysSecretArn": {"Value": {"Ref": "SigningKeys"}},
        "DashboardName": {"Value": {"Ref": "DeliveryDashboard"}},
    }
    del doc["AWSTemplateFormatVersion"], doc["Description"]  # chalice's own stay
    return doc


def function_name(resource: dict[str, Any]) -> str:
    """The Chalice name of a generated function, from its handler (``app.app`` is the API's)."""
    handler = str(resource["Properties"]["Handler"])
    return "api_handler" if handler == "app.app" else handler.rsplit(".", 1)[-1]


def _environment(api_url: str) -> dict[str, Any]:
    def pool_or(param: str, pool_value: Any) -> Any:
        return {"Fn::If": ["UseUserPool", pool_value, {"Ref": param}]}

    return {
        "PATCHCAST_SENDER": {"Ref": "SenderAddress"},
        "PATCHCAST_PUBLIC_URL": {"Fn::If": ["HasPublicUrl", {"Ref": "PublicUrl"}, {"Fn::Sub": api_url}]},
        "PATCHCAST_JWT_ISSUER": pool_or("JwtIssuer", {"Fn::Sub": COGNITO_ISSUER}),
        "PATCHCAST_JWT_AUDIENCE": pool_or("JwtAudience", {"Ref": "UserPoolClient"}),
        "PATCHCAST_JWKS_URL": pool_or("JwksUrl", {"Fn::Sub": COGNITO_ISSUER + "/.well-known/jwks.json"}),
        "PATCHCAST_COGNITO_DOMAIN": {"Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"},
        "PATCHCAST_BUCKET": {"Ref": "PackagesBucket"},  # chalicelib.names reads it: the name is the stack's
    }


def _subbed(node: Any, stage: str) -> Any:
    """Policy files name resources as ``${Logical.Arn}``, parameters and ``${Stage}``: make them Fn::Sub."""
    if isinstance(node, dict):
        return {k: _subbed(v, stage) for k, v in node.items()}
    if isinstance(node, list):
        return [_subbed(v, stage) for v in node]
    if isinstance(node, str) and "${" in node:
        text = node.replace("${Stage}", stage)
        return {"Fn::Sub": text} if "${" in text else text
    return node


def _wire_function(res: dict[str, Any], logical: str, stage: str, env: dict[str, Any]) -> None:
    fn = res[logical]
    props = fn["Properties"]
    name = function_name(fn)
    props["FunctionName"] = f"patchcast-{stage}-{name}"
    props.setdefault("Environment", {}).setdefault("Variables", {}).update(copy.deepcopy(env))
    reserved = props.get("ReservedConcurrentExecutions")
    for event in props.get("Events", {}).values():
        if event["Type"] == "SQS" and reserved:
            # Lambda's SQS poller would otherwise outrun the reservation, and throttled receives count
            # towards maxReceiveCount: messages would reach the DLQ without ever failing.
            event["Properties"]["ScalingConfig"] = {"MaximumConcurrency": max(2, int(reserved))}
    res[f"{logical}LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/aws/lambda/{props['FunctionName']}", "RetentionInDays": LOG_RETENTION_DAYS},
    }
    fn["DependsOn"] = sorted({*fn.get("DependsOn", []), f"{logical}LogGroup"})
    role = props["Role"]["Fn::GetAtt"][0]
    policies = _subbed(res[role]["Properties"]["Policies"], stage)
    statements = policies[0]["PolicyDocument"]["Statement"]
    if props.get("Tracing") == "Active":  # what Lambda's X-Ray integration sends with the function's role
        statements.append(copy.deepcopy(XRAY_STATEMENT))
    statements.append(encryption.key_statement())
    res[role]["Properties"]["Policies"] = policies
    res[f"{logical}ErrorsAlarm"] = _alarm(
        f"{name}: unhandled errors (an SQS message is retried, then moved to its DLQ)",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": logical}}],
        },
        1,
        statistic="Sum",
    )


def _unlink_api(res: dict[str, Any]) -> None:
    """Functions read the API's URL from their environment, and the API invokes functions: name the
    invoked functions by their (fixed) ARN instead of GetAtt, which would make a dependency cycle."""
    api = res["RestAPI"]
    body = json.dumps(api["Properties"]["DefinitionBody"])
    for logical, r in res.items():
        if r["Type"] == "AWS::Serverless::Function":
            arn = (
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                + r["Properties"]["FunctionName"]
            )
            body = body.replace("${" + logical + ".Arn}", arn)
    definition = json.loads(body)
    definition["x-amazon-apigateway-gateway-responses"] = {
        kind: {
            "statusCode": status,
            "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"},
            "responseTemplates": {"application/json": json.dumps({"error": code, "message": message})},
        }
        for kind, (status, code, message) in GATEWAY_RESPONSES.items()
    }
    api["Properties"]["DefinitionBody"] = definition


def finish(doc: dict[str, Any], stage: str) -> dict[str, Any]:
    """Wire every generated function; the result is the one template ``make deploy`` hands to CloudFormation."""
    doc = copy.deepcopy(doc)
    res = doc["Resources"]
    # the API's URL as Chalice writes it (stage name included), without the trailing slash
    env = _environment(doc["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"].rstrip("/"))
    for logical in [k for k, v in res.items() if v["Type"] == "AWS::Serverless::Function"]:
        _wire_function(res, logical, stage, env)
    _unlink_api(res)
    res["UserPoolClient"]["Properties"].update(portal_oauth(env["PATCHCAST_PUBLIC_URL"]))  # the URL emails carry too
    observe.wire_api(res, stage, LOG_RETENTION_DAYS)
    encryption.state_encryption(res)
    scan.mark(res)
    doc["Outputs"]["PublicUrl"] = {"Value": env["PATCHCAST_PUBLIC_URL"]}
    doc["Outputs"]["ApiAccessLogGroup"] = {"Value": {"Ref": "ApiAccessLogs"}}
    doc["Description"] = f"Patchcast ({stage}): the app, its resources and alarms"
    return doc
