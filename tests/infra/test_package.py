"""The template ``make package STAGE=prod`` writes: valid CloudFormation (cfn-lint), valid SAM (the
translator), and the rules the design asks of it, read from the template itself."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from chalicelib.adapters import settings
from chalicelib.domain.access.auth import RELEASE_ENGINEERS, SUPPORT_ADMINS
from chalicelib.domain.core import errors
from chalicelib.names import ResourceNames
from infra import aws
from infra.template import VISIBILITY_FACTOR

STAGE = "prod"
DELIVERY = ("on_deliver", "on_deliver_critical", "on_digest", "on_scheduled")  # every function that sends mail


def _of_type(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == kind}


def _functions(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {aws.function_name(v): v for v in _of_type(doc, "AWS::Serverless::Function").values()}


def _queue_by_name(doc: dict[str, Any], name: str) -> dict[str, Any]:
    for queue in _of_type(doc, "AWS::SQS::Queue").values():
        if queue["Properties"]["QueueName"] == name:
            return queue["Properties"]
    raise AssertionError(f"no queue named {name} in the template")


def test_the_template_passes_cfn_lint_without_errors(packaged: dict[str, Any]) -> None:
    from cfnlint.api import lint

    found = lint(json.dumps(packaged), regions=["us-east-1", "eu-west-1"])
    problems = [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in found if m.rule.id.startswith("E")]
    assert not problems, "\n".join(problems)


def test_the_template_transforms_with_the_sam_translator(
    packaged: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    doc = json.loads(json.dumps(packaged))
    for fn in _of_type(doc, "AWS::Serverless::Function").values():
        fn["Properties"]["CodeUri"] = "s3://artifacts/deployment.zip"  # what `aws cloudformation package` does
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    out = transform(doc, {}, NoManagedPolicies())
    kinds = {r["Type"] for r in out["Resources"].values()}
    assert "AWS::Lambda::Function" in kinds and "AWS::Lambda::EventSourceMapping" in kinds
    assert not any(k.startswith("AWS::Serverless::") for k in kinds)


def test_every_sqs_mapping_meets_the_visibility_rule_and_has_a_dlq(packaged: dict[str, Any]) -> None:
    checked = 0
    for name, fn in _functions(packaged).items():
        timeout = fn["Properties"]["Timeout"]
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            queue_name = event["Properties"]["Queue"]["Fn::Sub"].rsplit(":", 1)[-1]
            queue = _queue_by_name(packaged, queue_name)
            assert queue["VisibilityTimeout"] >= VISIBILITY_FACTOR * timeout, (
                f"{queue_name}: visibility {queue['VisibilityTimeout']} s < {VISIBILITY_FACTOR} x {name}'s timeout "
                f"{timeout} s: raise FUNCTION_TIMEOUT in infra/template.py or lower lambda_timeout in .chalice/config.json"
            )
            # DESIGN.md: a DLQ after at least 3 receives (a literal: the template's own constant would pass any value)
            assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
            checked += 1
    assert checked >= 6


def test_every_function_has_reserved_concurrency_that_its_sqs_poller_respects(packaged: dict[str, Any]) -> None:
    for name, fn in _functions(packaged).items():
        props = fn["Properties"]
        reserved = props.get("ReservedConcurrentExecutions")
        assert reserved, f"{name} has no reserved_concurrency in .chalice/config.json"
        for event in props.get("Events", {}).values():
            if event["Type"] == "SQS":  # the poller's minimum is 2: a reservation of 1 would throttle it
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= reserved, name


def test_the_reservations_leave_the_account_the_unreserved_concurrency_lambda_requires(
    packaged: dict[str, Any],
) -> None:
    total = sum(int(fn["Properties"]["ReservedConcurrentExecutions"]) for fn in _functions(packaged).values())
    assert total <= aws.ACCOUNT_CONCURRENCY - aws.UNRESERVED_MINIMUM, (
        f"{total} reserved > {aws.ACCOUNT_CONCURRENCY} - {aws.UNRESERVED_MINIMUM}: lower reserved_concurrency"
    )


def test_the_api_logs_each_request_without_link_secrets_and_traces_it(packaged: dict[str, Any]) -> None:
    from infra import observe

    api = packaged["Resources"]["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert packaged["Resources"]["ApiAccessLogs"]["Properties"]["RetentionInDays"] == aws.LOG_RETENTION_DAYS
    fields = json.loads(setting["Format"])
    assert fields == observe.ACCESS_LOG_FORMAT
    variables = set(fields.values())
    for wanted in (
        "$context.requestId",
        "$context.resourcePath",
        "$context.status",
        "$context.responseLatency",
        "$context.authorizer.account_id",
        "$context.authorizer.groups",
    ):
        assert wanted in variables
    # /d/{token} and ?token= carry link secrets; the raw path, query string and headers would log them
    assert not [v for v in variables if v.startswith(("$context.path", "$input", "$method", "$request"))]
    assert "$context.identity.sourceIp" not in variables
    assert all(fn["Properties"]["Tracing"] == "Active" for fn in _functions(packaged).values())


def test_the_dashboard_shows_a_releases_outcomes_dlqs_and_ses_reputation(packaged: dict[str, Any]) -> None:
    from chalicelib.observability import _OUTCOME_METRICS

    body = json.dumps(packaged["Resources"]["DeliveryDashboard"]["Properties"]["DashboardBody"])
    for metric in ("EmailsSent", "EmailsFailed", "EmailsRetried", "EmailsSuppressed"):
        assert metric in _OUTCOME_METRICS.values() and f'\\"{metric}\\"' in body, metric
    for queue in _of_type(packaged, "AWS::SQS::Queue").values():
        if queue["Properties"]["QueueName"].endswith("-dlq"):
            assert queue["Properties"]["QueueName"] in body
    assert "Reputation.BounceRate" in body and "Reputation.ComplaintRate" in body
    assert "by release_id" in body


def test_data_is_encrypted_with_aws_managed_keys_or_the_stage_customer_key(packaged: dict[str, Any]) -> None:
    res = packaged["Resources"]
    key_or = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    for queue in _of_type(packaged, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", False, True]}
        assert queue["Properties"]["KmsMasterKeyId"] == key_or
    for topic in _of_type(packaged, "AWS::SNS::Topic").values():
        # SES and CloudWatch cannot publish to a topic under alias/aws/sns: no AWS-managed key there
        assert topic["Properties"]["KmsMasterKeyId"] == key_or
    for group in _of_type(packaged, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == key_or
    assert res["Table"]["Properties"]["SSESpecification"]["SSEEnabled"] is True
    assert res["SigningKeys"]["Properties"]["KmsKeyId"]["Fn::If"][2] == "alias/aws/secretsmanager"
    (rule,) = res["PackagesBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["Fn::If"][2] == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    for role in _of_type(packaged, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            assert {
                "Sid": "CustomerKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": {"Ref": "KmsKeyArn"},
            } in _statements(policy)


def _settings(fn: dict[str, Any]) -> settings.Settings:
    """What the function's code reads from its environment (CloudFormation values stood in for)."""
    variables = fn["Properties"]["Environment"]["Variables"]
    return settings.from_env(
        {k: v if isinstance(v, str) else "https://set-by-cloudformation.example" for k, v in variables.items()}
    )


def test_every_function_gets_every_setting_the_app_requires(packaged: dict[str, Any]) -> None:
    for name, fn in _functions(packaged).items():
        try:
            _settings(fn)
        except settings.ConfigurationError as exc:
            pytest.fail(f"{name}: {exc}; wire it in infra/aws.py _environment()")
        assert fn["Properties"]["Environment"]["Variables"]["PATCHCAST_STAGE"] == STAGE


def test_all_delivery_invocations_together_never_send_faster_than_the_account_rate(packaged: dict[str, Any]) -> None:
    from chalicelib.domain.mail.pacing import Pacer, SendQuota

    functions = _functions(packaged)
    reserved = {name: int(functions[name]["Properties"]["ReservedConcurrentExecutions"]) for name in DELIVERY}
    variables = {name: functions[name]["Properties"]["Environment"]["Variables"] for name in DELIVERY}

    # THEN every delivery function at its reserved concurrency, each invocation at the share it reads,
    # sends at most MaxSendRate in total: exactly, from the template's values ...
    assert 0 < sum(reserved[n] * Fraction(variables[n]["PATCHCAST_SEND_SHARE"]) for n in DELIVERY) <= 1
    # ... and as the pacer computes it, whatever the account's rate
    for rate in (1.0, 14.0, 500.0):
        paced = sum(
            reserved[n] * Pacer.share(SendQuota(rate), _settings(functions[n]).send_share).rate for n in DELIVERY
        )
        assert paced <= rate * (1 + 1e-9), f"{paced} emails/s > MaxSendRate {rate}"

    # THEN a severity-1 invocation sends faster than a normal one: with both queues busy, critical goes first
    critical, normal = (_settings(functions[n]).send_share for n in ("on_deliver_critical", "on_deliver"))
    assert critical > normal
    # AND the digest schedule only enqueues: its batches send, at the share infra/package.py gives on_digest
    assert "PATCHCAST_SEND_SHARE" not in functions["send_digests"]["Properties"]["Environment"]["Variables"]


def test_delivery_paces_at_the_sandbox_rate_when_ses_cannot_tell_its_quota(packaged: dict[str, Any]) -> None:
    functions = _functions(packaged)
    for name in DELIVERY:
        assert functions[name]["Properties"]["Environment"]["Variables"]["PATCHCAST_SES_DEFAULT_RATE"] == "1"
        assert _settings(functions[name]).ses_default_rate == 1.0, f"{name}: never unpaced for want of GetAccount"


def test_delivery_gives_a_batch_up_after_as_many_attempts_as_its_queue_allows_receives(
    packaged: dict[str, Any],
) -> None:
    from chalicelib.domain.delivery import batch as delivery

    names = ResourceNames(STAGE)
    for name in (names.deliver_queue, names.critical_queue, names.digest_queue):  # a digest batch claims as one
        assert _queue_by_name(packaged, name)["RedrivePolicy"]["maxReceiveCount"] == delivery.MAX_ATTEMPTS


def test_every_function_has_its_own_role_log_group_and_error_alarm(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    alarms = _of_type(packaged, "AWS::CloudWatch::Alarm").values()
    roles = set()
    for logical, fn in _of_type(packaged, "AWS::Serverless::Function").items():
        roles.add(fn["Properties"]["Role"]["Fn::GetAtt"][0])
        assert resources[f"{logical}LogGroup"]["Properties"]["RetentionInDays"] > 0
        # "at least 1 error in 5 minutes" (docs/deploy.md, Alarms)
        assert any(
            a["Properties"]["MetricName"] == "Errors"
            and a["Properties"]["Dimensions"][0]["Value"] == {"Ref": logical}
            and a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            and a["Properties"]["Threshold"] == 1
            and a["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            and (a["Properties"]["Statistic"], a["Properties"]["Period"], a["Properties"]["EvaluationPeriods"])
            == ("Sum", 300, 1)
            for a in alarms
        ), f"{logical} has no Errors alarm at 1 error in 5 minutes"
    assert len(roles) == len(_of_type(packaged, "AWS::Serverless::Function"))


def test_every_dlq_and_the_ses_reputation_have_alarms(packaged: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in _of_type(packaged, "AWS::CloudWatch::Alarm").values()]
    for logical, queue in _of_type(packaged, "AWS::SQS::Queue").items():
        if not queue["Properties"]["QueueName"].endswith("-dlq"):
            continue
        assert any(
            a["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [logical, "QueueName"]}
            and a["Threshold"] == 1
            for a in alarms
        ), f"{logical} has no depth alarm"
    ses = {a["MetricName"]: a for a in alarms if a["Namespace"] == "AWS/SES"}
    assert ses["Reputation.BounceRate"]["Threshold"] == 0.04
    assert ses["Reputation.ComplaintRate"]["Threshold"] == 0.0008
    assert all(a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" for a in ses.values())


def test_gateway_responses_answer_in_the_api_error_format(packaged: dict[str, Any]) -> None:
    responses = packaged["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    for kind, error in (("UNAUTHORIZED", errors.Unauthorized), ("ACCESS_DENIED", errors.Forbidden)):
        response = responses[kind]
        body = json.loads(response["responseTemplates"]["application/json"])
        assert response["statusCode"] == error.status
        assert set(body) == {"error", "message"} and body["error"] == error.code
    # and the ones it answers instead of the app: no route, too large, throttled, timed out
    for kind, status in (
        ("MISSING_AUTHENTICATION_TOKEN", 404),
        ("REQUEST_TOO_LARGE", 413),
        ("THROTTLED", 429),
        ("INTEGRATION_TIMEOUT", 504),
    ):
        body = json.loads(responses[kind]["responseTemplates"]["application/json"])
        assert responses[kind]["statusCode"] == status and set(body) == {"error", "message"}


def test_the_user_pool_is_the_default_issuer_with_both_groups(packaged: dict[str, Any]) -> None:
    groups = {g["Properties"]["GroupName"] for g in _of_type(packaged, "AWS::Cognito::UserPoolGroup").values()}
    assert groups == {RELEASE_ENGINEERS, SUPPORT_ADMINS}
    client = packaged["Resources"]["UserPoolClient"]["Properties"]
    assert "custom:account_id" in client["ReadAttributes"]
    assert "custom:account_id" not in client["WriteAttributes"], "users must not choose their own account"
    # nor their own address (an absent list would mean every standard attribute is writable)
    assert client["WriteAttributes"] and "email" not in client["WriteAttributes"]
    update = packaged["Resources"]["UserPool"]["Properties"]["UserAttributeUpdateSettings"]
    assert update == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    schema = {a["Name"] for a in packaged["Resources"]["UserPool"]["Properties"]["Schema"]}
    assert "account_id" in schema


def test_the_mail_configuration_set_reports_only_the_feedback_that_is_handled(packaged: dict[str, Any]) -> None:
    destination = packaged["Resources"]["MailFeedbackDestination"]["Properties"]["EventDestination"]
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": "FeedbackTopic"}
    # SEND and DELIVERY would invoke the feedback handler twice per email, to log "ignored"
    assert sorted(destination["MatchingEventTypes"]) == ["BOUNCE", "COMPLAINT", "REJECT"]


def test_feedback_reaches_its_handler_through_a_queue_with_a_dlq(packaged: dict[str, Any]) -> None:
    """SNS invoking a Lambda asynchronously retries twice and then drops the bounce: SNS -> SQS -> Lambda."""
    resources = packaged["Resources"]
    subscription = resources["FeedbackSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "FeedbackTopic"} and subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["FeedbackQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is True  # the handler reads SES's JSON as the SQS body
    (statement,) = resources["FeedbackQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "FeedbackTopic"}}}
    assert resources["FeedbackQueuePolicy"]["Properties"]["Queues"] == [{"Ref": "FeedbackQueue"}]
    events = _functions(packaged)["on_feedback"]["Properties"]["Events"].values()
    assert [e["Type"] for e in events] == ["SQS"]
    assert not [
        name
        for name, fn in _functions(packaged).items()
        if any(e["Type"] == "SNS" for e in fn["Properties"].get("Events", {}).values())
    ], "a function invoked by SNS directly loses what fails three times"


def test_cognito_emails_users_through_the_ses_identity(packaged: dict[str, Any]) -> None:
    """Cognito's own sender has a small daily cap; every customer contact is a user who gets an invitation."""
    email = packaged["Resources"]["UserPool"]["Properties"]["EmailConfiguration"]
    assert email["EmailSendingAccount"] == "DEVELOPER"
    assert email["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SesDomain}"
    }
    assert email["From"] == {"Ref": "SenderAddress"}
    assert email["ConfigurationSet"] == {"Ref": "MailConfigurationSet"}


# Actions AWS does not scope to a resource: the only ones a policy may grant on "*".
RESOURCELESS = {"ses:GetAccount", "ses:GetSendQuota", "cloudwatch:PutMetricData", "xray:PutTraceSegments",
                "xray:PutTelemetryRecords"}  # fmt: skip


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements, both branches of a conditional one (the customer key's)."""
    found = []
    for statement in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement:
            found += [s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"}]
        else:
            found.append(statement)
    return found


def test_policies_name_only_resources_of_the_stack(packaged: dict[str, Any]) -> None:
    """No wildcard resources: every grant is scoped to this stage's resources (cfn-lint checks the names)."""
    for logical, role in _of_type(packaged, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):  # API Gateway's logs role: AWS's managed policy
            for statement in _statements(policy):
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a == "*" or a.endswith(":*") for a in actions), f"{logical}: wildcard action"
                if "*" in resources:
                    assert set(actions) <= RESOURCELESS, (
                        f"{logical} {statement.get('Sid')}: Resource '*' for {sorted(set(actions) - RESOURCELESS)}, "
                        "which AWS can scope: name the resource"
                    )


def test_the_portal_signs_in_through_the_user_pools_managed_login_with_the_code_flow(packaged: dict[str, Any]) -> None:
    res = packaged["Resources"]
    assert res["UserPoolDomain"]["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    client = res["UserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid"] and client["GenerateSecret"] is False
    # the callback and sign-out page live under the same public URL the functions build every link from
    api = res["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert client["CallbackURLs"] == [{"Fn::Join": ["", [api["PATCHCAST_PUBLIC_URL"], "/portal/callback"]]}]
    assert client["LogoutURLs"] == [{"Fn::Join": ["", [api["PATCHCAST_PUBLIC_URL"], "/portal/signed-out"]]}]
    assert "UserPoolDomain" in json.dumps(api["PATCHCAST_COGNITO_DOMAIN"])


def test_the_local_sign_in_page_is_not_routed_in_an_aws_stage(packaged: dict[str, Any]) -> None:
    paths = packaged["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert "/portal/callback" in paths and "/catalog" in paths
    assert not [p for p in paths if p.startswith("/portal/local")]
