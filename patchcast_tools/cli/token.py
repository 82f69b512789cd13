"""``patchctl token``: local stage only, a bearer token from the local issuer."""

from __future__ import annotations

import argparse
from typing import Any

from patchcast_tools.cli.common import CliError, add_common, emit, state_dir


def cmd_token(args: argparse.Namespace) -> None:
    from patchcast_tools.local import issuer

    try:
        token = issuer.mint(state_dir(), role=args.role, account=args.account, email=args.email)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    emit(args, {"token": token}, token)


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="local stage only: print a bearer token from the local issuer")
    add_common(token)
    token.add_argument("--role", required=True, choices=["customer", "release-engineer", "support-admin"])
    token.add_argument("--account")
    token.add_argument("--email")
    token.set_defaults(func=cmd_token)
