from __future__ import annotations

import pytest

from chalicelib.adapters.keys import parse_ring
from patchcast_tools.cli.common import CliError
from patchcast_tools.cli.keys import next_kid, rotated

DOC = {"current": "k2", "k1": "a" * 64, "k2": "b" * 64}


def test_rotation_makes_a_new_current_key_keeps_the_previous_and_retires_older_ones() -> None:
    new, summary = rotated(DOC, retire=[])
    assert summary == {"current": "k3", "previous": "k2", "kept": ["k2"], "retired": ["k1"]}
    assert new["current"] == "k3" and new["k2"] == DOC["k2"] and "k1" not in new
    ring = parse_ring(new)  # the app accepts what the CLI writes
    assert ring.current == "k3" and set(ring.keys) == {"k2", "k3"} and len(ring.keys["k3"]) >= 32


def test_an_emergency_rotation_retires_the_previous_key_too() -> None:
    new, summary = rotated(DOC, retire=["k2"])
    assert summary["retired"] == ["k1", "k2"] and set(new) == {"current", "k3"}


def test_retiring_an_unknown_key_writes_nothing() -> None:
    with pytest.raises(CliError, match="no such key id to retire: k9"):
        rotated(DOC, retire=["k9"])


def test_a_secret_without_a_valid_current_key_is_not_rotated() -> None:
    with pytest.raises(CliError, match="current"):
        rotated({"current": "k7", "k1": "a" * 64}, retire=[])


def test_key_ids_count_up_and_ignore_foreign_names() -> None:
    assert next_kid(["k1", "k10", "k2", "legacy"]) == "k11"
    assert next_kid(["legacy"]) == "k1"


def test_the_cli_names_the_secret_as_the_app_does() -> None:
    from chalicelib.names import ResourceNames
    from patchcast_tools.cli.keys import secret_name

    assert secret_name("prod") == ResourceNames(stage="prod").signing_secret
