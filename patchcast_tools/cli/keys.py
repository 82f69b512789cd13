"""``patchctl keys``: rotate the link-signing keys in Secrets Manager (and list their ids, never the secrets).

Rotation adds a new key and makes it current, keeps the previous current key so links it signed keep
working, and retires every older key (links signed with a retired key answer 404). Talks to Secrets
Manager directly with boto3, which honours ``AWS_ENDPOINT_URL``; in the local stage it defaults to the
local AWS of ``make run``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
from typing import Any

from patchcast_tools.cli.common import CliError

_KID = re.compile(r"^k(\d{1,12})$")
SECRET_CHARS = 64


def secret_name(stage: str) -> str:
    # Same rule as chalicelib.names.ResourceNames.signing_secret (a test holds them together): the installed
    # patchctl ships without chalicelib.
    return f"patchcast/{stage}/signing-keys"


def _client(stage: str) -> Any:
    import boto3

    if stage == "local" and not os.environ.get("AWS_ENDPOINT_URL"):
        # The local stack's moto server; its credentials are placeholders by design.
        port = os.environ.get("PATCHCAST_AWS_PORT", "5000")
        return boto3.client(
            "secretsmanager",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=os.environ.get("AWS_REGION", "us-east-1"),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    return boto3.client("secretsmanager")


def next_kid(kids: list[str]) -> str:
    numbers = [int(m.group(1)) for m in (_KID.match(k) for k in kids) if m]
    return f"k{max(numbers, default=0) + 1}"


def rotated(doc: dict[str, str], *, retire: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """The new secret document and a summary: a new current key, the previous kept, older ones retired."""
    previous = doc.get("current")
    kids = [k for k in doc if k != "current"]
    if previous not in kids:
        raise CliError("the signing-key secret has no valid 'current' key id; fix it before rotating")
    unknown = sorted(set(retire) - set(kids))
    if unknown:
        raise CliError(f"no such key id to retire: {', '.join(unknown)} (keys: {', '.join(sorted(kids))})")
    new = next_kid(kids)
    keep = {previous} - set(retire)  # --retire of the previous key: an emergency rotation (it leaked)
    retired = sorted(k for k in kids if k not in keep)
    out = {"current": new, new: secrets.token_urlsafe(48)[:SECRET_CHARS]}
    out.update({k: doc[k] for k in kids if k in keep})
    summary = {"current": new, "previous": previous, "kept": sorted(keep), "retired": retired}
    return out, summary


def cmd_rotate(args: argparse.Namespace) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    name = args.secret or secret_name(args.stage)
    client = _client(args.stage)
    try:
        doc = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
        if not isinstance(doc, dict):
            raise CliError(f"secret {name} is not a JSON object")
        new_doc, summary = rotated({str(k): str(v) for k, v in doc.items()}, retire=args.retire or [])
        client.put_secret_value(SecretId=name, SecretString=json.dumps(new_doc))
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot rotate {name}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CliError(f"secret {name} is not JSON") from exc
    summary["secret"] = name
    kept = ", ".join(summary["kept"]) or "none"
    human = (
        f"rotated {name}: {summary['current']} now signs; kept for verification: {kept}; "
        f"retired: {', '.join(summary['retired']) or 'none'}. Running functions pick it up within 5 minutes."
    )
    print(json.dumps(summary, indent=2) if args.json else human)


def cmd_list(args: argparse.Namespace) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    name = args.secret or secret_name(args.stage)
    try:
        doc = json.loads(_client(args.stage).get_secret_value(SecretId=name)["SecretString"])
    except (ClientError, BotoCoreError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read {name}: {exc}") from exc
    kids = sorted(k for k in doc if k != "current")
    value = {"secret": name, "current": doc.get("current"), "keys": kids}
    print(json.dumps(value, indent=2) if args.json else f"{name}: current {value['current']}; keys {', '.join(kids)}")


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="link-signing keys in Secrets Manager")
    actions = keys.add_subparsers(dest="action", required=True)
    for action, func, text in (
        ("rotate", cmd_rotate, "add a new current key, keep the previous one, retire older ones"),
        ("list", cmd_list, "show the key ids (never the secrets) and which one signs"),
    ):
        p = actions.add_parser(action, help=text)
        p.add_argument("--stage", default=os.environ.get("PATCHCAST_STAGE", "local"), help="stage (default: local)")
        p.add_argument("--secret", help="secret name (default: patchcast/<stage>/signing-keys)")
        p.add_argument("--json", action="store_true", help="print JSON")
        if action == "rotate":
            p.add_argument(
                "--retire",
                action="append",
                metavar="KID",
                help="also retire this key id now (repeatable); retiring the previous key is an emergency rotation",
            )
        p.set_defaults(func=func)
