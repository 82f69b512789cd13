"""``patchctl suppressions lift EMAIL``: support admins end the suppression SES feedback put on an address (a
permanent bounce or a complaint), audited; the address's subscriptions stay off until it subscribes and
confirms again."""

from __future__ import annotations

import argparse
from typing import Any

import requests

from patchcast_tools.cli.common import Api, add_common, emit


def cmd_suppressions_lift(args: argparse.Namespace) -> None:
    path = f"/suppressions/{requests.utils.quote(args.email, safe='')}"
    lifted = Api(args.api, "support-admin").call("DELETE", path)
    emit(
        args,
        lifted,
        f"lifted the {lifted['reason']} suppression of {lifted['email']} (suppressed {lifted['suppressed_at']}), "
        f"by {lifted['lifted_by']} at {lifted['lifted_at']}; the address must subscribe and confirm again",
    )


def register(sub: Any) -> None:
    group = sub.add_parser(
        "suppressions",
        help="addresses no email goes to (bounces, complaints): lift",
        description="Addresses SES reported a permanent bounce or a complaint for.",
    ).add_subparsers(dest="action", required=True, metavar="SUBCOMMAND", title="subcommands")
    lift = group.add_parser(
        "lift",
        help="end an address's suppression (audited)",
        description="End the suppression of EMAIL (audited: who, when, what). Its subscriptions stay off; "
        "subscribing it again sends a new confirmation.",
    )
    add_common(lift)
    lift.add_argument("email", help="the suppressed address")
    lift.set_defaults(func=cmd_suppressions_lift)
