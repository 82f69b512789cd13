"""The hand-written IAM policies of ``.chalice/``, rendered for a stage and evaluated (Allow statements,
actions and resources with wildcards; conditions are not evaluated) against recorded calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from infra.template import template

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
_VAR = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def only(self, action: str, resource: str | None = None) -> Grant:
        return Grant(self.sid, (action,), self.resources if resource is None else (resource,))

    def allows(self, action: str, resource: str) -> bool:
        return any(fnmatchcase(action.lower(), a.lower()) for a in self.actions) and any(
            fnmatchcase(resource, r) for r in self.resources
        )


def config() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(CONFIG.read_text())
    return doc


def policy_file(function: str) -> Path | None:
    """The policy file config.json names for a function (per function; a stage-wide file does not count)."""
    name = config().get("lambda_functions", {}).get(function, {}).get("iam_policy_file")
    return ROOT / ".chalice" / name if name else None


def _arn_of(logical: str, attribute: str | None, stage: str, params: dict[str, str]) -> str:
    if logical in params:
        return params[logical]
    resource = template(stage)["Resources"].get(logical)
    if resource is None:
        raise KeyError(f"${{{logical}}} names no resource of infra/template.py and no known parameter")
    props, kind = resource["Properties"], resource["Type"]
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{props['TableName']}"
    if kind == "AWS::SQS::Queue":
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{props['QueueName']}"
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{props['BucketName']}"
    if kind == "AWS::SNS::Topic":
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{props['TopicName']}"
    if kind == "AWS::SecretsManager::Secret":  # Ref is the ARN, which ends in a random suffix
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{props['Name']}-??????"
    if kind == "AWS::SES::ConfigurationSet" and attribute is None:
        return str(props["Name"])
    raise KeyError(f"the test cannot render ${{{logical}{'.' + attribute if attribute else ''}}} ({kind}) yet")


def render(text: str, stage: str, params: dict[str, str]) -> str:
    """One policy string as CloudFormation's Fn::Sub would make it in ``stage`` (``${Stage}`` is the packager's)."""
    fixed = {"Stage": stage, "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in fixed:
            return fixed[name]
        logical, _, attribute = name.partition(".")
        return _arn_of(logical, attribute or None, stage, params)

    return _VAR.sub(value, text)


def grants(path: Path, stage: str, params: dict[str, str]) -> list[Grant]:
    doc = json.loads(path.read_text())
    found = []
    for i, st in enumerate(doc["Statement"]):
        if st.get("Effect") != "Allow":
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        found.append(Grant(st.get("Sid", f"#{i}"), tuple(actions), tuple(render(r, stage, params) for r in resources)))
    return found


def in_stack(resource: str, patterns: list[str]) -> bool:
    return resource == "*" or any(fnmatchcase(resource, p) for p in patterns)


def stack_resources(stage: str, params: dict[str, str]) -> list[str]:
    """ARN patterns of everything the stage's stack holds: calls on anything else touch resources a
    test made for itself, which no deployed function could reach."""
    patterns = [
        f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{params['SesDomain']}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/patchcast-{stage}-*",
    ]
    for logical, resource in template(stage)["Resources"].items():
        try:
            arn = _arn_of(logical, None, stage, params)
        except KeyError:
            continue
        if resource["Type"] == "AWS::SES::ConfigurationSet":
            arn = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{arn}"
        patterns += [arn, f"{arn}/*"]
    return patterns


def platform_needs(chalice_app: Any, stage: str) -> dict[str, set[tuple[str, str]]]:
    """What Lambda itself does with a function's role: write its logs, poll its SQS queue."""
    needs: dict[str, set[tuple[str, str]]] = {}

    def logs(function: str) -> set[tuple[str, str]]:
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/patchcast-{stage}-{function}:log-stream:x"
        return {("logs:CreateLogStream", group), ("logs:PutLogEvents", group)}

    for function in functions(chalice_app):
        needs[function] = logs(function)
    for source in chalice_app.event_sources:
        if type(source).__name__ == "SQSEventConfig":
            queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{source.queue}"
            needs[source.name] |= {
                (a, queue) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
            }
    return needs


def functions(chalice_app: Any) -> set[str]:
    """Every Lambda function ``chalice package`` makes of the app: the API's, authorizers, event handlers."""
    found = {source.name for source in chalice_app.event_sources}
    if chalice_app.routes:
        found.add("api_handler")
    found |= {auth.name for auth in chalice_app.builtin_auth_handlers}
    found |= {fn.name for fn in chalice_app.pure_lambda_functions}
    return found


def _test_exists(nodeid: str) -> bool:
    path, _, name = nodeid.partition("::")
    file = ROOT / path
    return file.exists() and f"def {name.split('[', 1)[0]}(" in file.read_text()


def witness_problem(witness: str | None, users: list[str], ran: set[str]) -> str | None:
    """What is wrong with the test named as using a grant (``tests/app/iam_witnesses.json``), given the tests of
    this run that used it and the tests that ran; None when nothing is, or when its test did not run."""
    fix = f"name {users[0]}, which used it" if users else "remove the grant, or test the code that needs it"
    if witness is None or not _test_exists(witness):
        return f"iam_witnesses.json {'names no test' if witness is None else f'names {witness}, which is gone'}: {fix}"
    if witness in ran and witness not in users:
        return f"its test {witness} ran without using it: {fix}"
    return None
