"""``patchctl token``: local stage only, a bearer token from the local issuer."""

from __future__ import annotations

import argparse
from typing import Any

from patchcast_tools.cli.common import CliError, add_common, emit, require_local_state


def cmd_token(args: argparse.Namespace) -> None:
    from patchcast_tools.local import issuer

    folder = require_local_state()  # only `make run` creates the issuer key: never a stray one here
    try:
        token = issuer.mint(folder, role=args.role, account=args.account, email=args.email)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    emit(args, {"token": token}, token)


def register(sub: Any) -> None:
    token = sub.add_parser(
        "token",
        help="local stage only: print a bearer token from the local issuer",
        description="Print a bearer token signed by the local stack's issuer (the key `make run` created under "
        ".local/issuer, found from any folder of the checkout, or PATCHCAST_STATE_DIR). Use it as "
        "`Authorization: Bearer <token>` or export it as PATCHCAST_TOKEN.",
    )
    add_common(token)
    token.add_argument(
        "--role",
        required=True,
        choices=["customer", "release-engineer", "support-admin"],
        help="whose token: a customer (needs --account), a release engineer or a support admin",
    )
    token.add_argument("--account", help="the customer's account id (custom:account_id claim)")
    token.add_argument("--email", help="the email claim (a customer's address)")
    token.set_defaults(func=cmd_token)
