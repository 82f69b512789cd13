"""``make package STAGE=…``: one CloudFormation template for a stage, offline of AWS.

Renders ``infra/`` for the stage, runs ``chalice package --merge-template`` over it (Chalice builds the
deployment zip, fetching Linux wheels when it has no cached build), then wires the generated functions
(``infra/aws.py``) and gives each delivery function its share of the SES send rate. Writes
``build/<stage>/template.json`` beside ``deployment.zip``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra import aws

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


# A critical delivery invocation sends this many times faster than a normal one: with both queues busy,
# severity-1 batches go out first (docs/delivery.md, "Pacing").
# The digest batches send too, and so does on_scheduled (the CSM reviews and the support warnings).
SEND_WEIGHT = {"on_deliver": 1, "on_deliver_critical": 2, "on_digest": 1, "on_scheduled": 1}


class PackageError(RuntimeError):
    """Packaging failed; the message says why in a line."""


def send_shares(doc: dict[str, Any]) -> dict[str, float]:
    """Each delivery function's per-invocation share of the account's MaxSendRate, from the reserved
    concurrency the template gives it: weight / sum(reserved x weight), rounded down, so that all of
    them at their reserved concurrency together never exceed the rate."""
    reserved = {
        aws.function_name(r): r["Properties"].get("ReservedConcurrentExecutions")
        for r in doc["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function" and aws.function_name(r) in SEND_WEIGHT
    }
    unbounded = sorted(name for name in SEND_WEIGHT if not reserved.get(name))
    if unbounded:
        raise PackageError(f"{', '.join(unbounded)}: no reserved_concurrency in .chalice/config.json, so no send share")
    total = sum(SEND_WEIGHT[name] * int(n) for name, n in reserved.items())
    return {name: math.floor(1e6 * SEND_WEIGHT[name] / total) / 1e6 for name in reserved}


def _share_send_rate(doc: dict[str, Any]) -> None:
    shares = send_shares(doc)
    for r in doc["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function" and aws.function_name(r) in shares:
            r["Properties"]["Environment"]["Variables"]["PATCHCAST_SEND_SHARE"] = str(shares[aws.function_name(r)])


def _hint(stderr: str, stage: str) -> str:
    if f"policy-{stage}.json" in stderr:
        return (
            "\n(a Lambda function has no iam_policy_file under lambda_functions in .chalice/config.json;"
            " tests/app/test_least_privilege.py names it)"
        )
    return ""


def package(stage: str, *, out: Path | None = None) -> Path:
    out = (out or BUILD / stage).resolve()
    work = out.parent / f".{stage}-chalice"
    shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    merge = out.parent / f"merge-{stage}.json"
    merge.write_text(json.dumps(aws.merge_template(stage), indent=2))
    # Chalice asks for a region even to package; the template itself uses ${AWS::Region}.
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    done = subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if "Could not install dependencies" in done.stdout + done.stderr:
        # Chalice still writes a package then, without the wheels it could not get: a Lambda that fails on import
        raise PackageError("chalice package could not get Linux wheels:\n" + (done.stdout + done.stderr).strip())
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise PackageError(
            f"chalice package failed: {lines[-1] if lines else done.returncode}{_hint(done.stderr, stage)}"
        )
    doc = aws.finish(json.loads((work / "sam.json").read_text()), stage)
    _share_send_rate(doc)
    shutil.move(str(work / "deployment.zip"), out / "deployment.zip")
    shutil.rmtree(work)
    target = out / "template.json"
    target.write_text(json.dumps(doc, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["dev", "prod"])
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        target = package(args.stage)
    except PackageError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{target.relative_to(ROOT)} written in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
