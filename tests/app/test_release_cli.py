"""``patchctl release list | edit | report``: the commands over patchctl's own API client, against the app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client

from patchcast_tools.cli import build_parser
from patchcast_tools.cli import releases as release_cli
from patchcast_tools.cli.common import ApiError, CliError
from tests.app.cli_api import cli_api
from tests.app.test_release_editing import _article, _at, _get, _product
from tests.conftest import token


@pytest.fixture
def patchctl(app_client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs a patchctl command line against the app; returns what it printed."""
    monkeypatch.setenv("PATCHCAST_TOKEN", token("release-engineer"))
    monkeypatch.setattr(release_cli, "Api", lambda _base, role: cli_api(app_client, role))

    def run(*argv: str) -> str:
        capsys.readouterr()
        args = build_parser().parse_args(list(argv))
        args.func(args)
        return capsys.readouterr().out

    return run


def test_release_list_prints_a_table_of_every_page_and_json(
    app_client: Client, patchctl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release_cli, "PAGE_SIZE", 2)
    product = _product(app_client)
    made = [_article(app_client, product, draft=True, title=f"Release {n}") for n in range(3)]
    # WHEN listing with pages smaller than the result (the command follows the cursor)
    printed = patchctl("release", "list", "--product", product)
    lines = printed.splitlines()
    assert lines[0].split() == ["id", "status", "sev", "product", "kind", "version", "due", "title"]
    assert all(len(line) <= 100 for line in lines)
    assert {line.split()[0] for line in lines[1:]} == {r["id"] for r in made}
    assert all(line.split()[1] == "draft" and "Release" in line for line in lines[1:])  # drafts shown as drafts
    as_json = json.loads(patchctl("release", "list", "--product", product, "--json"))
    assert [r["id"] for r in as_json["items"]] == [line.split()[0] for line in lines[1:]]
    assert as_json["next"] is None
    # AND --limit stops early, keeping the cursor to go on from
    two = json.loads(patchctl("release", "list", "--product", product, "--limit", "2", "--json"))
    assert len(two["items"]) == 2 and two["next"]
    assert patchctl("release", "list", "--product", product, "--status", "published") == "no releases\n"
    # AND drafts are filtered as drafts; "available" means not held back
    assert {
        r["id"]
        for r in json.loads(patchctl("release", "list", "--product", product, "--status", "draft", "--json"))["items"]
    } == {r["id"] for r in made}
    assert patchctl("release", "list", "--product", product, "--status", "available") == "no releases\n"
    edited = patchctl("release", "edit", made[0]["id"], "--no-draft")
    assert edited.split(":")[0] == f"{made[0]['id']} available"
    assert [
        line.split()[0]
        for line in patchctl("release", "list", "--product", product, "--status", "available").splitlines()[1:]
    ] == [made[0]["id"]]
    assert patchctl("release", "status", made[1]["id"]).split()[1] == "draft"


def test_release_edit_changes_fields_reschedules_and_unschedules(app_client: Client, patchctl: Any) -> None:
    release = _article(app_client, _product(app_client), draft=True)
    at = _at(3600)
    out = patchctl("release", "edit", release["id"], "--title", "Better", "--notify-at", at, "--no-draft")
    assert out.strip() == f"{release['id']} scheduled at {at}: Better"
    assert _get(app_client, release["id"])["status"] == "scheduled"
    patchctl("release", "edit", release["id"], "--unschedule", "--draft")
    got = _get(app_client, release["id"])
    assert (got["status"], got["notify_at"], got["draft"]) == ("available", None, True)
    with pytest.raises(CliError, match="nothing to change"):
        patchctl("release", "edit", release["id"])
    with pytest.raises(ApiError, match="notify_at"):
        patchctl("release", "edit", release["id"], "--notify-at", "2020-01-01T00:00:00Z")


def test_release_report_has_a_downloaders_column_and_times(patchctl: Any, app_client: Client) -> None:
    release = _article(app_client, _product(app_client))
    out = patchctl("release", "report", release["id"])
    head = out.splitlines()[1].split()
    assert [line.split()[0] for line in out.splitlines()[2:6]] == ["elite", "premium", "xtreme", "total"]
    assert all(len(line) <= 100 for line in out.splitlines())
    assert head == [
        "tier",
        "notified",
        "failed",
        "skipped",
        "suppressed",
        "on-call",
        "csm",
        "downloads",
        "downloaders",
        "recalled",
    ]
    assert "time to notice (s)" in out and "p95" in out


def test_release_preview_prints_the_audience_per_tier_and_the_rate(patchctl: Any, app_client: Client) -> None:
    release = _article(app_client, _product(app_client), draft=True)
    out = patchctl("release", "preview", release["id"])
    assert out.splitlines()[1].split() == ["tier", "subscribers", "on-call", "csm", "emails", "done", "after", "s"]
    assert [line.split()[0] for line in out.splitlines()[2:6]] == ["elite", "premium", "xtreme", "total"]
    assert "left out (why, per tier):" in out and "period_ended" in out and "SES rate" in out
    why = out.split("left out (why, per tier):\n")[1].splitlines()[0].split()
    assert why == ["why", "elite", "premium", "xtreme", "total"]
    assert all(len(line) <= 100 for line in out.splitlines())
    assert json.loads(patchctl("release", "preview", release["id"], "--json"))["totals"]["emails"] == 0
