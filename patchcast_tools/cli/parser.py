"""patchctl's argument parser: what argparse does, and what the best command lines add to it.

- No abbreviations: ``--prod`` is never taken for ``--product`` (a typo must not pass as another option).
- An unknown option is named as such, with a did-you-mean, before any complaint about a missing one: the typo
  ``--prodcut`` reads "unknown option --prodcut (did you mean --product?)", not "--product is required".
- An unknown value or command gets a did-you-mean beside argparse's list of choices.
- Every command's ``--help`` has a description (its one-line help, when none was written) and an example.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)")


class _Formatter(argparse.HelpFormatter):
    """argparse's, but an example is never wrapped: it is a line to copy."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("Example:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._given: list[str] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(args, namespace)
        if self._subparsers is None and extras:  # a leaf command: what it does not know is nobody's
            self.error(self._unknown(extras) or f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def _unknown(self, given: Sequence[str]) -> str | None:
        """The first option given that this command does not know, said with the closest one it does."""
        known = [o for o in self._option_string_actions if o.startswith("--")]
        for arg in given:
            option = arg.split("=", 1)[0]
            if option.startswith("-") and option not in self._option_string_actions and option != "--":
                close = difflib.get_close_matches(option, known, n=1, cutoff=0.6)
                return f"unknown option {option}" + (f" (did you mean {close[0]}?)" if close else "")
        return None

    def error(self, message: str) -> NoReturn:
        if self._subparsers is None and message.startswith("the following arguments are required"):
            message = self._unknown(self._given) or message
        choice = _CHOICE.search(message)
        if choice:
            options = [c.strip().strip("'") for c in choice.group("choices").split(",")]
            close = difflib.get_close_matches(choice.group("given"), options, n=1, cutoff=0.5)
            if close:
                message += f"; did you mean {close[0]}?"
        super().error(message)


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield sub, helps.get(name, "")
                yield from _commands(sub)


def describe_all(parser: argparse.ArgumentParser) -> None:
    """Give every command a description (its help, as a sentence) and an example of its use in its epilog."""
    for sub, help_text in _commands(parser):
        if not sub.description and help_text:
            sub.description = help_text[0].upper() + help_text[1:] + ("" if help_text.endswith(".") else ".")
        if not sub.epilog:
            sub.epilog = f"Example:\n  {EXAMPLES.get(sub.prog, sub.prog + ' --help')}"


# One example per command (by its prog, as argparse names it): what `--help` shows under the options.
EXAMPLES = {
    "patchctl token": "patchctl token --role customer --account acme --email ops@acme.example",
    "patchctl accounts import": "patchctl accounts import contracts.csv",
    "patchctl accounts list": "patchctl accounts list --json",
    "patchctl accounts show": "patchctl accounts show acme",
    "patchctl accounts export": "patchctl accounts export contracts.csv",
    "patchctl accounts review": "patchctl accounts review acme --from 2026-11-01 --to 2026-11-30",
    "patchctl release create": "patchctl release create --product M3 --version 13.4.1 --kind patch --severity 2 "
    "--title 'Rounding fix' --file fix.zip",
    "patchctl release upload": "patchctl release upload RELEASE_ID --file fix.zip",
    "patchctl release status": "patchctl release status RELEASE_ID",
    "patchctl release publish": "patchctl release publish RELEASE_ID",
    "patchctl release report": "patchctl release report RELEASE_ID",
    "patchctl release preview": "patchctl release preview RELEASE_ID",
    "patchctl release list": "patchctl release list --product M3 --status draft",
    "patchctl release edit": "patchctl release edit RELEASE_ID --notify-at 2026-12-09T08:00:00Z --no-draft",
    "patchctl release yank": "patchctl release yank RELEASE_ID --reason 'corrupts totals' --superseded-by NEW_ID",
    "patchctl announce create": "patchctl announce create --product M3 --kind service-pack --version 13.5 "
    "--planned-for 2027-01-15 --title 'M3 SP5' --summary 'What it brings'",
    "patchctl announce list": "patchctl announce list",
    "patchctl announce move": "patchctl announce move ANNOUNCEMENT_ID --planned-for 2027-02-01",
    "patchctl announce cancel": "patchctl announce cancel ANNOUNCEMENT_ID",
    "patchctl keys rotate": "patchctl keys rotate",
    "patchctl keys list": "patchctl keys list",
    "patchctl suppressions lift": "patchctl suppressions lift ops@acme.example",
}
