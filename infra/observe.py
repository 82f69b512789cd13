"""What an operator follows in AWS: the API's access log and X-Ray tracing, and the dashboard of a
release's progress (the EMF metrics of ``chalicelib/observability.py``, DLQ depths, SES reputation, and
the delivery functions' own log lines per release).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.names import ResourceNames

# One JSON line per request. The route is the resource path (``/d/{token}``), never ``$context.path``:
# download, renewal and unsubscribe paths and their ``?token=`` carry link secrets. The caller is what
# the authorizer verified (chalicelib/domain/access/auth.py Identity.context), not the bearer token.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "time": "$context.requestTimeEpoch",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "accountId": "$context.authorizer.account_id",
    "groups": "$context.authorizer.groups",
    "principal": "$context.authorizer.principalId",
    "error": "$context.error.responseType",
    "xrayTraceId": "$context.xrayTraceId",
}
APIGATEWAY_LOGS_POLICY = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def access_log_group(stage: str) -> str:
    return f"/aws/apigateway/patchcast-{stage}-access"


def wire_api(res: dict[str, Any], stage: str, retention_days: int) -> None:
    """Access log and tracing on the API's stage. API Gateway writes access logs with the Region's account
    setting (a role); the stack sets it, and keeps the role when deleted, since other APIs may use it."""
    res["ApiAccessLogs"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": access_log_group(stage), "RetentionInDays": retention_days},
    }
    res["ApiGatewayLogsRole"] = {
        "Type": "AWS::IAM::Role",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [{"Fn::Sub": APIGATEWAY_LOGS_POLICY}],
        },
    }
    res["ApiGatewayAccount"] = {
        "Type": "AWS::ApiGateway::Account",
        "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]}},
    }
    api = res["RestAPI"]
    api["Properties"]["TracingEnabled"] = True
    api["Properties"]["AccessLogSetting"] = {
        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]},
        "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
    }
    api["DependsOn"] = sorted({*api.get("DependsOn", []), "ApiGatewayAccount"})


# Delivery outcome metrics (chalicelib/observability.py, EMF namespace Patchcast, dimension service).
OUTCOME_METRICS = ("EmailsSent", "EmailsFailed", "EmailsRetried", "EmailsSuppressed")
DELIVERY_FUNCTIONS = ("on_deliver", "on_deliver_critical")


def _metric_widget(title: str, metrics: list[list[Any]], *, stat: str, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "metrics": metrics, "stat": stat, "period": 300, "region": "${AWS::Region}"},
    }


def dashboard(stage: str, dlq_names: list[str]) -> dict[str, Any]:
    """One page for a release's progress: what was sent, failed, retried, suppressed; what is stuck."""
    n = ResourceNames(stage)
    functions = [f"patchcast-{stage}-{f}" for f in DELIVERY_FUNCTIONS]
    # Each delivered batch logs its counts with the release id (chalicelib/domain/delivery/batch.py "batch delivered")
    progress = (
        " | ".join(f"SOURCE '/aws/lambda/{f}'" for f in functions)
        + " | filter message = 'batch delivered'"
        + " | stats sum(sent) as sent, sum(failed) as failed, sum(retry) as retried, sum(suppressed) as suppressed,"
        " sum(skipped) as skipped, count(*) as batches, max(@timestamp) as last by release_id"
        " | sort last desc | limit 50"
    )
    widgets = [
        _metric_widget(
            "Emails (all releases)",
            [["Patchcast", m, "service", "patchcast"] for m in OUTCOME_METRICS],
            stat="Sum",
            x=0,
            y=0,
        ),
        _metric_widget(
            "Messages in DLQs (each is a batch or event that failed 3 times)",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in dlq_names],
            stat="Maximum",
            x=12,
            y=0,
        ),
        _metric_widget(
            "Delivery backlog: messages waiting and the oldest's age (s)",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]
                for q in (n.deliver_queue, n.critical_queue)
            ]
            + [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", n.deliver_queue, {"yAxis": "right"}]],
            stat="Maximum",
            x=0,
            y=6,
        ),
        _metric_widget(
            "SES reputation: bounce and complaint rate (review at 5 % and 0.1 %)",
            [["AWS/SES", "Reputation.BounceRate"], ["AWS/SES", "Reputation.ComplaintRate", {"yAxis": "right"}]],
            stat="Maximum",
            x=12,
            y=6,
        ),
        _metric_widget(
            "Delivery functions: throttles and errors",
            [["AWS/Lambda", m, "FunctionName", f] for f in functions for m in ("Throttles", "Errors")],
            stat="Sum",
            x=0,
            y=12,
        ),
        {
            "type": "log",
            "x": 12,
            "y": 12,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Per release: emails by outcome",
                "query": progress,
                "region": "${AWS::Region}",
                "view": "table",
            },
        },
    ]
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": f"patchcast-{stage}-delivery", "DashboardBody": {"Fn::Sub": body}},
    }
