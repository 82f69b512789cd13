"""``make deploy``'s first question to AWS: does the Lambda concurrency the template reserves fit this account?

Every function reserves its concurrency (``reserved_concurrency`` in ``.chalice/config.json``), and Lambda keeps
``UNRESERVED_MINIMUM`` (100) of the account's quota in the Region unreserved: a deploy that would take more fails
half-way. A new account's quota can be as low as 10. This reads the quota and what is unreserved
(``GetAccountSettings``) and what this stack's functions reserve now (``GetFunctionConcurrency``: an update
gives theirs back first), and says what to ask Service Quotas for when the template does not fit.

    python -m infra.quota build/prod/template.json      # exit 0 if it fits, 2 with the request to make
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra.aws import UNRESERVED_MINIMUM

QUOTA_CODE = "L-B99A9384"  # Service Quotas' code of Lambda's "Concurrent executions"


def reserved(doc: dict[str, Any]) -> dict[str, int]:
    """What each function of a packaged template reserves, by its function name."""
    return {
        str(r["Properties"]["FunctionName"]): int(r["Properties"].get("ReservedConcurrentExecutions") or 0)
        for r in doc["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }


def shortfall(wanted: dict[str, int], *, quota: int, unreserved: int, current: dict[str, int], region: str) -> str:
    """Why the template does not fit the account and what to ask for ("" if it fits). ``current``: what the
    stack's functions reserve now (an update hands it back before taking the template's)."""
    total = sum(wanted.values())
    others = quota - unreserved - sum(current.values())  # reserved by functions outside this stack
    after = quota - others - total
    if after >= UNRESERVED_MINIMUM:
        return ""
    need = others + total + UNRESERVED_MINIMUM
    return (
        f"The template reserves {total} concurrent executions; the account's Lambda concurrency quota in {region} "
        f"is {quota}, {others} of it reserved by other functions, and Lambda keeps {UNRESERVED_MINIMUM} unreserved. "
        f"Ask for a quota of at least {need} (Service Quotas, Lambda, 'Concurrent executions'):\n"
        f"  aws service-quotas request-service-quota-increase --region {region} --service-code lambda "
        f"--quota-code {QUOTA_CODE} --desired-value {need}\n"
        "or lower reserved_concurrency in .chalice/config.json (docs/deploy.md, 'Concurrency limits')."
    )


def check(doc: dict[str, Any], client: Any) -> str:
    """The account's answer for this template, through a Lambda client of the Region deployed to."""
    limits = client.get_account_settings()["AccountLimit"]
    wanted = reserved(doc)
    current = {}
    for name in wanted:
        try:
            current[name] = int(
                client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions", 0)
            )
        except client.exceptions.ResourceNotFoundException:
            current[name] = 0  # a first deploy: nothing of the stack exists yet
    return shortfall(
        wanted,
        quota=int(limits["ConcurrentExecutions"]),
        unreserved=int(limits["UnreservedConcurrentExecutions"]),
        current=current,
        region=client.meta.region_name,
    )


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    args = parser.parse_args(argv)
    doc = json.loads(args.template.read_text())
    if client is None:
        import boto3

        client = boto3.client("lambda")
    problem = check(doc, client)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    print(f"Lambda concurrency: the template reserves {sum(reserved(doc).values())}; the account's quota fits it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
