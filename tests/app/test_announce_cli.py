"""``patchctl announce create | list | move | cancel`` over patchctl's own API client, against the app."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.core.models import Product
from patchcast_tools.cli import announce as announce_cli
from patchcast_tools.cli import build_parser
from patchcast_tools.cli.common import CliError
from tests.app.cli_api import cli_api
from tests.conftest import token

SOON = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()


@pytest.fixture
def patchctl(app_client: Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("PATCHCAST_TOKEN", token("release-engineer"))
    monkeypatch.setattr(announce_cli, "Api", lambda _base, role: cli_api(app_client, role))

    def run(*argv: str) -> str:
        capsys.readouterr()
        args = build_parser().parse_args(list(argv))
        args.func(args)
        return capsys.readouterr().out

    return run


def test_announce_create_list_move_and_cancel(patchctl: Any, wired: Any) -> None:
    product = f"P{uuid.uuid4().hex[:8]}"
    wired.table.put_product(Product(product, "Product"))
    made = patchctl(
        "announce",
        "create",
        "--product",
        product,
        "--kind",
        "update",
        "--version",
        "2.0",
        "--planned-for",
        SOON,
        "--title",
        "Update 2",
        "--summary",
        "Planned",
    ).strip()
    assert made.startswith("an-")
    listed = patchctl("announce", "list")
    assert listed.splitlines()[0].split()[:3] == ["id", "status", "product"]
    assert any(line.startswith(made) and "announced" in line for line in listed.splitlines())
    later = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    moved = json.loads(patchctl("announce", "move", made, "--planned-for", later, "--json"))
    assert moved["planned_for"] == later and moved["sequence"] == 1
    assert "cancelled" in patchctl("announce", "cancel", made)


def test_announce_errors_name_the_field(patchctl: Any, wired: Any) -> None:
    product = f"P{uuid.uuid4().hex[:8]}"
    wired.table.put_product(Product(product, "Product"))
    with pytest.raises(CliError, match="planned_for"):
        patchctl(
            "announce",
            "create",
            "--product",
            product,
            "--kind",
            "update",
            "--version",
            "2.0",
            "--planned-for",
            "2001-01-01",
            "--title",
            "Old",
            "--summary",
            "Past",
        )
    with pytest.raises(CliError, match="--planned-for"):
        patchctl("announce", "move", "an-x")
    with pytest.raises(SystemExit):  # argparse names the option and its choices
        patchctl(
            "announce",
            "create",
            "--product",
            product,
            "--kind",
            "critical-solution",
            "--version",
            "1",
            "--planned-for",
            SOON,
            "--title",
            "T",
            "--summary",
            "S",
        )
