"""``patchctl``: the release engineers' and support admins' command line for Patchcast.

Every command takes ``--api URL`` and ``--json``; the exit status is 0 only on success and errors
are one clear line on stderr. Credentials: ``PATCHCAST_TOKEN`` (a bearer JWT), or in the local
stage a token minted from the local issuer for the command's role. Each command group is a module
here with a ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from patchcast_tools.cli import accounts, announce, keys, releases, suppressions, token
from patchcast_tools.cli.common import CliError
from patchcast_tools.cli.parser import Parser, describe_all

GROUPS = (token, accounts, releases, keys, suppressions, announce)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="patchctl",
        description="Publish releases and manage contracts in Patchcast. `patchctl COMMAND --help` for each.",
        epilog="The API: --api URL, else PATCHCAST_API, else http://127.0.0.1:$PATCHCAST_API_PORT, else port 8000. "
        "Credentials: PATCHCAST_TOKEN, else the local stack's issuer (its .local/ found from any folder of the "
        "checkout, or PATCHCAST_STATE_DIR). Exit status 0 only on success.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for group in GROUPS:
        group.register(sub)
    describe_all(parser)
    return parser


def main(argv: list[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CliError as exc:
        print(f"patchctl: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("patchctl: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
