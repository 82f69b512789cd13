"""``patchctl``'s errors say how to fix them: a typo named with a did-you-mean (never read as another option),
a missing stack or a wrong one named with the URL used, an unknown product with the known ones."""

from __future__ import annotations

import argparse

import pytest
import requests

from chalicelib.domain.core import validation as v
from chalicelib.domain.releases import body
from patchcast_tools.cli import build_parser, common
from patchcast_tools.cli.parser import EXAMPLES, _commands

CREATE = ["release", "create", "--version", "1", "--kind", "patch", "--severity", "2", "--title", "x"]


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([*CREATE, "--prodcut", "M3"], "unknown option --prodcut (did you mean --product?)"),
        ([*CREATE, "--prod", "M3"], "unknown option --prod (did you mean --product?)"),  # never an abbreviation
        (["release", "list", "--limt", "3"], "unknown option --limt (did you mean --limit?)"),
        (["release", "list", "--status", "drafts"], "did you mean draft?"),
        (["relase", "list"], "invalid choice: 'relase'"),
        (["relase", "list"], "did you mean release?"),
        (["release", "lst"], "did you mean list?"),
    ],
)
def test_a_typo_is_named_with_what_was_meant(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert said in _refusal(argv, capsys)


def test_a_missing_option_is_still_named_when_nothing_unknown_was_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert "the following arguments are required: --product" in _refusal(CREATE, capsys)


def test_every_command_has_a_description_and_an_example() -> None:
    commands = [sub for sub, _ in _commands(build_parser()) if sub._subparsers is None]
    assert len(commands) >= 20
    for sub in commands:
        assert sub.description, sub.prog
        assert sub.epilog and sub.epilog.startswith("Example:\n  patchctl "), sub.prog
        assert sub.prog in EXAMPLES, f"{sub.prog} has no example of its own"
    assert all(isinstance(sub, argparse.ArgumentParser) for sub in commands)


def test_an_unreachable_api_names_the_url_and_how_to_start_or_point_at_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise requests.ConnectionError("refused")

    api = common.Api("http://127.0.0.1:9", "release-engineer", credentials=_Fixed())
    monkeypatch.setattr(api.http, "request", refuse)
    with pytest.raises(common.CliError) as failed:
        api.call("GET", "/releases")
    assert "http://127.0.0.1:9" in str(failed.value) and "make run" in str(failed.value)
    assert "--api" in str(failed.value)


def test_a_401_names_the_api_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = requests.Response()
    answer.status_code, answer._content = 401, b'{"error": "unauthorized", "message": "Token signature is invalid."}'
    api = common.Api("https://api.other.example", "release-engineer", credentials=_Fixed())
    monkeypatch.setattr(api.http, "request", lambda *_, **__: answer)
    with pytest.raises(common.ApiError) as failed:
        api.call("GET", "/releases")
    assert "https://api.other.example" in str(failed.value) and "PATCHCAST_TOKEN" in str(failed.value)


class _Fixed(common.Credentials):
    def __init__(self) -> None:
        pass

    def token(self) -> str:
        return "t"

    def renew(self) -> str:
        return "t"


def test_an_unknown_product_lists_the_known_ones_and_the_case_that_was_meant() -> None:
    with pytest.raises(v.BadRequest) as refused:
        body.parse_product({"product": "m3"}, {"M3", "M4"})
    assert refused.value.code == "unknown_product"
    assert (
        refused.value.message
        == "Unknown product: m3. Product ids are case-sensitive: m3 is M3. Known products: M3, M4."
    )
    with pytest.raises(v.BadRequest) as none_yet:
        body.parse_product({"product": "M9"}, set())
    assert none_yet.value.message == "Unknown product: M9. Known products: none yet."


def test_a_table_has_its_header_and_fits_100_columns() -> None:
    rows = [["acme", "elite", "x" * 150], ["globex", "premium", "short"]]
    lines = common.table(("account", "tier", "name"), rows).splitlines()
    assert lines[0].split() == ["account", "tier", "name"]
    assert [len(line) for line in lines] == [len(lines[0]), 100, len(lines[2])] and lines[1].endswith("…")
    assert lines[2] == "globex   premium  short"


def test_accounts_list_prints_a_header(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from patchcast_tools.cli import accounts

    contract = {"account_id": "acme", "tier": "elite", "support_start": "2026-01-01", "support_end": "2027-01-01",
                "products": ["M3", "M4"], "name": "Acme"}  # fmt: skip
    monkeypatch.setattr(accounts, "Api", lambda *_: type("A", (), {"items": lambda self, path: iter([contract])})())
    accounts.cmd_accounts_list(argparse.Namespace(api="http://x", json=False))
    assert capsys.readouterr().out.splitlines() == [
        "account  tier   support                 products  name",
        "acme     elite  2026-01-01..2027-01-01  M3 M4     Acme",
    ]


def test_the_review_text_lists_recalls_and_contacts_as_its_json_does() -> None:
    from patchcast_tools.cli.accounts import _review_text

    review = {
        "account_id": "acme",
        "period": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        "totals": {"releases": 1, "notified": 2, "downloaders": 1},
        "days_left": 389,
        "releases": [],
        "not_downloaded": [],
        "recalls": [
            {"id": "r1", "version": "1.0", "recalled": ["a@acme.example", "b@acme.example"], "build_downloaded": True}
        ],
        "contacts": {
            "subscribed": 2,
            "suppressed": [{"email": "old@acme.example", "role": "subscriber", "status": "suppressed"}],
            "bouncing": [{"email": "full@acme.example", "transient_bounces": 3}],
        },
    }
    lines = _review_text(review).splitlines()
    assert lines[0].endswith("389 day(s) of support left")
    assert "  recalled: 1.0 to 2 contact(s); the build was downloaded" in lines
    assert "  contacts: 2 subscribed" in lines and "  suppressed: old@acme.example (subscriber)" in lines
    assert "  bouncing: full@acme.example (3 soft bounce(s))" in lines


def test_days_left_is_one_count_today_included() -> None:
    from datetime import date

    from chalicelib.domain.core.entitlements import days_left

    assert days_left(date(2026, 12, 31), date(2026, 12, 31)) == 1
    assert days_left(date(2026, 12, 31), date(2026, 12, 1)) == 31
    assert days_left(date(2026, 12, 31), date(2027, 1, 1)) == 0
