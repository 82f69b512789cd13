"""The security scan's (checkov's) findings this design accepts, each with its reason; written into the
packaged template as ``Metadata: checkov: skip`` on every resource of the type, so any scanner run on
``build/<stage>/template.json`` sees the same. ``tests/infra/test_scan.py`` fails on any other finding
and on an exception no resource needs any more.
"""

from __future__ import annotations

from typing import Any

FUNCTION = "AWS::Serverless::Function"
# check id -> (resource type, why this design does not follow it)
EXCEPTIONS: dict[str, tuple[str, str]] = {
    "CKV_AWS_117": (
        FUNCTION,
        "Lambda outside a VPC: the functions reach only AWS APIs (IAM-signed, TLS) and no private network",
    ),
    "CKV_AWS_116": (
        FUNCTION,
        "no asynchronous invocations to keep: SQS-triggered functions fail into their queue's DLQ, the API "
        "and authorizer are synchronous, and the schedules redo a failed tick on the next one",
    ),
    "CKV_AWS_120": (
        "AWS::Serverless::Api",
        "no API cache: answers are per caller (JWT) or one-time signed redirects; a cache would serve them to others",
    ),
    "CKV_AWS_18": (
        "AWS::S3::Bucket",
        "no S3 server access log: every download goes through the API, which audits it (download records)",
    ),
}


def mark(resources: dict[str, Any]) -> None:
    for resource in resources.values():
        skips = [{"id": check, "comment": why} for check, (kind, why) in EXCEPTIONS.items() if kind == resource["Type"]]
        if skips:
            resource.setdefault("Metadata", {}).setdefault("checkov", {})["skip"] = skips
