"""What made a first deploy to AWS fail, read off the packaged prod template (issue 27, items 3 to 5): a bucket
name global across accounts, a ``PublicUrl`` whose trailing slash broke the portal's callback, and reserved
concurrency an account's quota may not hold (``make deploy`` asks the account first; the docs' figure is the
template's)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import names
from infra import quota
from infra.aws import UNRESERVED_MINIMUM

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def _functions(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


# -- item 3: the bucket's name ----------------------------------------------------------------------
def test_the_packages_bucket_is_named_per_account_and_region_and_every_function_reads_it(
    packaged: dict[str, Any],
) -> None:
    # the name carries the account and Region: nobody else can own it first, and a second account or Region works
    props = packaged["Resources"]["PackagesBucket"]["Properties"]
    assert props["BucketName"] == {"Fn::Sub": "patchcast-prod-packages-${AWS::AccountId}-${AWS::Region}"}
    # nothing names the bucket by the old global name: policies and conditions follow the stack's name
    text = json.dumps(packaged)
    assert not re.search(r"patchcast-prod-packages(?!-\$\{AWS::AccountId\}-\$\{AWS::Region\})", text)
    # and every function is told the name (the app does not derive it from the stage)
    for logical, fn in _functions(packaged).items():
        assert fn["Properties"]["Environment"]["Variables"]["PATCHCAST_BUCKET"] == {"Ref": "PackagesBucket"}, logical


def test_the_app_reads_the_bucket_name_from_its_environment() -> None:
    given = names.current({"PATCHCAST_STAGE": "prod", "PATCHCAST_BUCKET": "patchcast-prod-packages-1234-eu-west-1"})
    assert given.bucket == "patchcast-prod-packages-1234-eu-west-1" and given.table == "patchcast-prod-table"
    assert names.current({"PATCHCAST_STAGE": "local"}).bucket == "patchcast-local-packages"  # the local stack's


# -- item 4: PublicUrl --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "taken"),
    [
        ("", True),
        ("https://patches.example.com", True),
        ("https://patches.example.com:8443/base", True),
        ("https://patches.example.com/", False),
        ("https://patches.example.com/base/", False),
        ("http://patches.example.com", False),
        ("https://patches.example.com/x?y=1", False),
        ("https://patches example.com", False),
    ],
)
def test_public_url_must_be_https_without_a_trailing_slash(packaged: dict[str, Any], url: str, taken: bool) -> None:
    pattern = packaged["Parameters"]["PublicUrl"]["AllowedPattern"]  # CloudFormation's check (Java regex)
    assert bool(re.fullmatch(pattern, url)) is taken


def test_the_portal_callback_is_the_public_url_and_one_path(packaged: dict[str, Any]) -> None:
    urls = packaged["Resources"]["UserPoolClient"]["Properties"]["CallbackURLs"]
    joined = urls[0]["Fn::Join"]
    assert joined[0] == "" and joined[1][1] == "/portal/callback"
    assert joined[1][0]["Fn::If"][1] == {"Ref": "PublicUrl"}


# -- item 5: reserved concurrency ---------------------------------------------------------------------
def test_the_deploy_docs_give_the_templates_reserved_concurrency_once(packaged: dict[str, Any]) -> None:
    total = sum(quota.reserved(packaged).values())
    doc = DEPLOY_DOC.read_text()
    assert re.findall(r"Σ reserved = \*\*(\d+)\*\*", doc) == [str(total)], "docs/deploy.md: the sum is the template's"
    assert re.findall(r"quota of at least \*\*(\d+)\*\*", doc) == [str(total + UNRESERVED_MINIMUM)]
    assert not re.search(r"\b\d+ in all\b", doc), "one figure: the sum under Concurrency limits"
    # and the table of the section names every function with what the template reserves for it
    section = doc.split("## Concurrency limits", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, int] = {}
    for row in re.findall(r"^\| (`[^|]+) \| ([0-9, ]+(?: each)?) \|", section, re.MULTILINE):
        functions, figures = re.findall(r"`(\w+)`", row[0]), [int(f) for f in row[1].replace(" each", "").split(",")]
        listed |= dict(zip(functions, figures * len(functions) if len(figures) == 1 else figures, strict=True))
    assert {f"patchcast-prod-{k}": v for k, v in listed.items()} == quota.reserved(packaged)


def _answering(quota_value: int, unreserved: int, current: dict[str, int]) -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    limits = {"ConcurrentExecutions": quota_value, "UnreservedConcurrentExecutions": unreserved}
    stub.add_response("get_account_settings", {"AccountLimit": limits}, {})
    for name, n in current.items():
        if n < 0:
            stub.add_client_error("get_function_concurrency", "ResourceNotFoundException", expected_params=None)
        else:
            stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": n}, {"FunctionName": name})
    stub.activate()
    return client, stub


def test_make_deploy_refuses_a_template_a_new_accounts_quota_cannot_hold_and_says_what_to_ask_for(
    packaged: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a new account: a quota of 10, nothing reserved, none of the stack's functions yet
    wanted = quota.reserved(packaged)
    client, stub = _answering(10, 10, dict.fromkeys(wanted, -1))
    path = tmp_path / "template.json"
    path.write_text(json.dumps(packaged))
    # WHEN make deploy's check runs
    code = quota.main([str(path)], client=client)
    # THEN it stops with the quota to ask for: the template's sum plus the 100 Lambda keeps unreserved
    need = sum(wanted.values()) + UNRESERVED_MINIMUM
    err = capsys.readouterr().err
    assert code == 2 and f"--quota-code L-B99A9384 --desired-value {need}" in err and "eu-west-1" in err, err
    stub.assert_no_pending_responses()


def test_an_update_counts_the_stacks_own_reservations_as_given_back() -> None:
    wanted = {"a": 150, "b": 31}
    # 1,000 with 819 unreserved: the stack's own 181 are the only reservations, so the same template fits
    assert quota.shortfall(wanted, quota=1000, unreserved=819, current=wanted, region="r") == ""
    # 300 with 119 unreserved and the stack reserving 181 now: a template reserving 10 more leaves 109: fits
    assert quota.shortfall({"a": 160, "b": 31}, quota=300, unreserved=119, current=wanted, region="r") == ""
    # ... and 20 more leaves 99, under Lambda's 100: ask for 301
    assert "--desired-value 301" in quota.shortfall(
        {"a": 170, "b": 31}, quota=300, unreserved=119, current=wanted, region="r"
    )
    # other functions' reservations count against the quota too
    assert "--desired-value 381" in quota.shortfall(wanted, quota=300, unreserved=200, current={}, region="r")


def test_make_deploy_asks_the_account_before_it_uploads_or_deploys() -> None:
    script = (ROOT / "infra" / "deploy.sh").read_text()
    check = script.index("-m infra.quota")
    assert check < script.index("cloudformation package") and check < script.index("create-bucket")
