"""``make package STAGE=…``: one CloudFormation template for a stage, offline of AWS.

Renders ``infra/`` for the stage, runs ``chalice package --merge-template`` over it (Chalice builds the
deployment zip, fetching Linux wheels when it has no cached build), then wires the generated functions
(``infra/aws.py``). Writes ``build/<stage>/template.json`` beside ``deployment.zip``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from infra import aws

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


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
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(work)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    doc = aws.finish(json.loads((work / "sam.json").read_text()), stage)
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
    except subprocess.CalledProcessError as exc:
        print(f"chalice package failed with status {exc.returncode}; see its output above", file=sys.stderr)
        return 1
    print(f"{target.relative_to(ROOT)} written in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
