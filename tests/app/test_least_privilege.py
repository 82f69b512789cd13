"""Least privilege, both ways: every AWS call a function made while this session's app tests drove it is
allowed by that function's hand-written policy, and every grant in the policy was used (or is one of
the few documented below).

The calls are recorded by ``tests/iam_recorder.py`` (installed by the ``wired`` fixture) with the test that made
each; the checks judge what the session ran, at its end (``after_all``, ``tests/session_records.py``: under
xdist, every worker's calls in one place). That a grant is used is judged against the test ``iam_witnesses.json``
names for it, whenever that test runs: a targeted run judges the grants of the tests it ran. Policies live in
``.chalice/policy-<function>.json``, named per function in ``.chalice/config.json`` under
``lambda_functions``; ``${Logical.Arn}``/``${Param}`` are CloudFormation Fn::Sub, ``${Stage}`` the stage.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from tests import iam_policies
from tests.app.flows import create_release, emails_to, subscribed_world, upload
from tests.conftest import SENDER, auth
from tests.session_records import Records

STAGE = "local"
PARAMS = {"SesDomain": SENDER.rsplit("@", 1)[1], "SenderAddress": SENDER}

# Grants no app test exercises yet, each with the reason it is still needed. Keep this list short.
UNEXERCISED: dict[tuple[str, str], str] = {
    ("on_deliver_critical", "sqs:SendMessage"): "re-enqueues throttled recipients on its own queue (SES throttling)",
    ("on_deliver_critical", "sqs:GetQueueUrl"): "the same re-enqueue",
    # The two delivery functions run the same code (routes/pipeline.py _deliver); the tests drive each
    # path through one of them.
    ("on_deliver_critical", "dynamodb:GetItem"): "a claim held elsewhere is re-read (driven via on_deliver)",
}

# Grants of one resource no app test reaches, while the action is used on others: (function, action, the
# resource's distinctive part) -> why it is still needed.
UNEXERCISED_RESOURCES: dict[tuple[str, str, str], str] = {
    (f, "ses:SendEmail", ":configuration-set/"): "in AWS every send names the configuration set; the local "
    "stage's AWS has none, so the sends there name none"
    for f in ("api_handler", "on_deliver", "on_deliver_critical", "on_digest", "on_scheduled")
} | {
    (f, a, "-deliver-critical"): "re-drives a stuck severity-1 batch (the tests re-drive a normal one)"
    for f, a in (("reconcile_deliveries", "sqs:SendMessage"), ("reconcile_deliveries", "sqs:GetQueueUrl"))
}

# Functions that make no AWS call at all, so no test can see them use their policy (logs only).
NO_AWS_CALLS = {"jwt_auth": "verifies JWTs with the issuer's JWKS over HTTPS, no AWS API"}


def test_a_severity_1_draft_published_through_the_api_reaches_its_subscriber(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    """Drives the publish route and the critical delivery queue, which the other flows do not reach."""
    product, _account, address = subscribed_world(app_client, provisioned, "elite", prefix="oncall")
    data = b"critical fix bytes"
    release = create_release(app_client, product, data, severity=1, draft=True)
    upload(release, data)
    runner.pump()
    assert [m for m in emails_to(provisioned, address) if "[Sev" in m["Subject"]] == []  # a draft waits

    resp = app_client.http.post(f"/releases/{release['id']}/publish", headers=auth("release-engineer"))
    assert resp.status_code == 200, resp.body
    runner.pump()
    assert len([m for m in emails_to(provisioned, address) if "[Sev 1]" in m["Subject"]]) == 1


def test_every_function_has_its_own_policy_file() -> None:
    import app as app_module

    config = iam_policies.config()
    assert config.get("autogen_policy") is False, ".chalice/config.json must keep autogen_policy false"
    problems = []
    for function in sorted(iam_policies.functions(app_module.app)):
        path = iam_policies.policy_file(function)
        if path is None or not path.exists():
            problems.append(
                f"{function}: no policy. Create .chalice/policy-{function}.json and name it in .chalice/config.json "
                f'as "lambda_functions": {{"{function}": {{"iam_policy_file": "policy-{function}.json"}}}}'
            )
    assert not problems, "\n".join(problems)


@pytest.mark.after_all
def test_every_call_a_function_made_is_allowed_by_its_policy(session_records: Records) -> None:
    import app as app_module

    needs: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for call in session_records.calls:
        needs[call.function].add((call.action, call.resource, call.operation))
    for function, platform in iam_policies.platform_needs(app_module.app, STAGE).items():
        needs[function] |= {(a, r, "Lambda itself") for a, r in platform}
    stack = iam_policies.stack_resources(STAGE, PARAMS)
    missing = []
    for function, wanted in sorted(needs.items()):
        path = iam_policies.policy_file(function)
        if path is None or not path.exists():
            continue  # reported by the test above
        grants = iam_policies.grants(path, STAGE, PARAMS)
        for action, resource, operation in sorted(wanted):
            if not iam_policies.in_stack(resource, stack):
                continue  # a resource a test made for itself (e.g. its own key secret)
            if not any(g.allows(action, resource) for g in grants):
                hint = " (if AWS can scope it, teach tests/iam_recorder.py _arns its ARN)" if resource == "*" else ""
                missing.append(
                    f"{function}: {operation} needs {action} on {resource}: add it to .chalice/{path.name}{hint}"
                )
    assert not missing, "\n".join(missing)


@pytest.mark.after_all
def test_no_call_of_the_app_escapes_the_handler_it_belongs_to(session_records: Records) -> None:
    """A call no handler frame leads to (a thread the recorder did not attribute) would go unchecked."""
    escaped = sorted(session_records.escaped)
    assert not escaped, "\n".join(
        f"{call}: no handler above it: hand the work over with ThreadPoolExecutor.submit or threading.Thread, "
        "or teach tests/iam_recorder.py how it runs"
        for call in escaped
    )


# Each grant a test must exercise -> the test that does: "function action resource" -> node id. A run judges the
# grants whose test it ran, so a targeted run judges what it ran and the whole suite judges every grant.
# `PATCHCAST_IAM_WITNESSES=write` rewrites it from the run: a grant whose test stopped using it gets the first
# test that did, one no test used stays a failure.
WITNESSES = Path(__file__).with_name("iam_witnesses.json")


def _grants_to_witness() -> list[tuple[str, str, str, iam_policies.Grant, str]]:
    """(function, action, resource, the grant narrowed to them, the policy file) of every grant a test must use:
    all but what Lambda itself uses and the exemptions above."""
    import app as app_module

    platform = iam_policies.platform_needs(app_module.app, STAGE)
    found = []
    for function in sorted(iam_policies.functions(app_module.app)):
        path = iam_policies.policy_file(function)
        if path is None or not path.exists():
            continue
        for grant in iam_policies.grants(path, STAGE, PARAMS):
            for action, resource in ((a, r) for a in grant.actions for r in grant.resources):
                narrowed = grant.only(action, resource)
                if (function, action) in UNEXERCISED or any(
                    (f, a) == (function, action) and part in resource for f, a, part in UNEXERCISED_RESOURCES
                ):
                    continue
                if not any(narrowed.allows(a, r) for a, r in platform.get(function, ())):
                    found.append((function, action, resource, narrowed, f".chalice/{path.name} {grant.sid}"))
    return found


def _users(records: Records, function: str, grant: iam_policies.Grant) -> list[str]:
    """The tests that used the grant, those that made the most distinct calls of the function first: a test that
    drives the function itself, rather than one whose pump happened to feed it what other tests left queued."""
    calls = [(c, tests) for c, tests in records.calls.items() if c.function == function]
    users = {t for c, tests in calls if grant.allows(c.action, c.resource) for t in tests}
    made = {t: sum(t in tests for _, tests in calls) for t in users}
    return sorted(users, key=lambda t: (-made[t], t))


@pytest.mark.after_all
def test_every_grant_in_a_policy_is_used_by_the_test_named_for_it(session_records: Records) -> None:
    ledger: dict[str, str] = json.loads(WITNESSES.read_text()) if WITNESSES.exists() else {}
    write = os.environ.get("PATCHCAST_IAM_WITNESSES") == "write"
    problems, kept = [], {}
    for function, action, resource, grant, where in _grants_to_witness():
        key = f"{function} {action} {resource}"
        users = _users(session_records, function, grant)
        problem = iam_policies.witness_problem(ledger.get(key), users, session_records.ran)
        if write and users:  # written afresh: the test that drives the function most
            ledger[key], problem = users[0], None
        if problem:
            problems.append(f"{function}: {where} grants {action} on {resource}; {problem}")
        elif key in ledger:
            kept[key] = ledger[key]
    if write:
        WITNESSES.write_text(json.dumps(dict(sorted(kept.items())), indent=1) + "\n")
    assert not problems, "\n".join(problems)


def test_every_function_is_driven_by_a_test_named_for_one_of_its_grants() -> None:
    """A policy is checked only against calls the tests saw: a handler no test invokes would go unchecked."""
    import app as app_module

    ledger: dict[str, str] = json.loads(WITNESSES.read_text())
    named = {key.split(" ", 1)[0] for key in ledger}
    silent = sorted(iam_policies.functions(app_module.app) - named - set(NO_AWS_CALLS))
    assert not silent, "\n".join(
        f"{function}: no test is named for any of its grants in tests/app/{WITNESSES.name}, so its policy is "
        "unchecked: invoke the handler itself from a test in tests/app (calling the domain function directly does "
        "not count)"
        for function in silent
    )


@pytest.mark.after_all
def test_every_exemption_is_still_unexercised(session_records: Records) -> None:
    used = {(call.function, call.action) for call in session_records.calls}
    stale = sorted(key for key in UNEXERCISED if key in used)
    assert not stale, f"the tests now use {stale}: remove them from UNEXERCISED"


# Wildcards a hand-written policy may hold: names AWS or the app makes up at run time, never a resource of the
# stack whose name is known (an index, a queue, a table) nor a family of actions.
_WILDCARDS = (
    re.compile(r"^arn:\$\{AWS::Partition\}:logs:.*:log-group:/aws/lambda/patchcast-\$\{Stage\}-\w+:\*$"),  # streams
    re.compile(r"^\$\{PackagesBucket\.Arn\}/[a-z-]+/\*$"),  # object keys under one prefix
)
RESOURCELESS = {"ses:GetAccount"}  # no resource-level permission in IAM


def test_no_policy_grants_a_wildcard_it_could_name() -> None:
    wide = []
    for path in sorted((iam_policies.ROOT / ".chalice").glob("policy-*.json")):
        for st in json.loads(path.read_text())["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            wide += [f"{path.name} {st.get('Sid')}: action {a}" for a in actions if "*" in a]
            for r in resources:
                if r == "*" and set(actions) <= RESOURCELESS:
                    continue
                if "*" in r and not any(p.match(r) for p in _WILDCARDS):
                    wide.append(f"{path.name} {st.get('Sid')}: resource {r}: name it")
    assert not wide, "\n".join(wide)
