"""``patchctl`` cannot mislead: where it looks for the API and the local stack, a token only from the stack's
own key, a missing --file named as such, and help on every command and option (subprocesses: no network)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from patchcast_tools.cli import build_parser, common
from patchcast_tools.local import issuer

PATCHCTL = str(Path(sys.executable).with_name("patchctl"))


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHCAST_")}
    return {**env, **extra}


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PATCHCTL, *args], cwd=cwd, env=_clean_env(**env), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PATCHCAST_API_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"PATCHCAST_API_PORT": "8123", "PATCHCAST_API": "https://api.example"}, "https://api.example"),
    ],
)
def test_the_api_is_patchcast_api_else_the_moved_port_else_8000(env: dict[str, str], url: str) -> None:
    assert common.api_url(env) == url


def test_the_api_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHCAST_API_PORT", "8123")
    args = build_parser().parse_args(["release", "status", "r1"])
    assert args.api == "http://127.0.0.1:8123"
    assert build_parser().parse_args(["release", "status", "r1", "--api", "http://x.test"]).api == "http://x.test"


def test_the_local_stack_is_found_from_any_folder_below_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_PROJECT", tmp_path / "elsewhere")
    issuer.ensure_keys(tmp_path / "repo" / ".local")
    deep = tmp_path / "repo" / "docs" / "deeper"
    deep.mkdir(parents=True)
    assert common.local_state({}, deep) == tmp_path / "repo" / ".local"
    assert common.local_state({"PATCHCAST_STATE_DIR": str(tmp_path / "none")}, deep) is None


def test_no_local_stack_is_one_line_saying_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_PROJECT", tmp_path / "elsewhere")
    with pytest.raises(common.CliError) as refused:
        common.require_local_state({}, tmp_path)
    message = str(refused.value)
    assert str(tmp_path) in message and "PATCHCAST_STATE_DIR" in message and "make run" in message
    assert "\n" not in message
    assert not (tmp_path / ".local").exists()


def test_token_outside_the_stack_refuses_and_creates_no_key(tmp_path: Path) -> None:
    # GIVEN a folder pointed at as the state folder, but no stack ever ran there
    empty = tmp_path / "state"
    empty.mkdir()
    # WHEN a token is asked for
    done = _run("token", "--role", "release-engineer", cwd=tmp_path, PATCHCAST_STATE_DIR=str(empty))
    # THEN it refuses in one line naming where it looked, and no signing key appeared anywhere
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"PATCHCAST_STATE_DIR={empty}" in done.stderr, done.stderr
    assert list(tmp_path.rglob("*.pem")) == []


def test_token_reads_the_stacks_key(tmp_path: Path) -> None:
    issuer.ensure_keys(tmp_path / ".local")
    done = _run("token", "--role", "support-admin", cwd=tmp_path, PATCHCAST_STATE_DIR=str(tmp_path / ".local"))
    assert done.returncode == 0 and done.stdout.count(".") == 2, done.stderr


def test_release_create_without_file_or_article_url_names_both_options(tmp_path: Path) -> None:
    done = _run(
        "release",
        "create",
        "--product",
        "M3",
        "--version",
        "1",
        "--kind",
        "patch",
        "--severity",
        "2",
        "--title",
        "t",
        cwd=tmp_path,
        PATCHCAST_API_PORT="9",
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "--file" in done.stderr and "--article-url" in done.stderr and "filename" not in done.stderr


def _parsers(parser: argparse.ArgumentParser, path: str = "patchctl") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_release_help_lists_its_subcommands(tmp_path: Path) -> None:
    done = _run("release", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for sub in ("create", "upload", "status", "publish", "yank", "report"):
        assert f"\n    {sub} " in done.stdout, done.stdout


def test_make_run_prints_what_another_shell_needs_and_only_what_moved(tmp_path: Path) -> None:
    from patchcast_tools.local.stack import LocalStack, paste_lines

    usual = LocalStack(state_dir=tmp_path / ".local", api_port=8000, aws_port=5000, outbox_port=8025)
    lines = paste_lines(usual, root=tmp_path).splitlines()
    assert lines[0] == f"  cd {tmp_path} && . .venv/bin/activate"
    assert not any("export" in line for line in lines) and "patchctl token --role" in lines[-1]
    moved = LocalStack(state_dir=tmp_path / "elsewhere", api_port=8123, aws_port=5000, outbox_port=8025)
    assert {"  export PATCHCAST_API_PORT=8123", f"  export PATCHCAST_STATE_DIR={tmp_path / 'elsewhere'}"} <= set(
        paste_lines(moved, root=tmp_path).splitlines()
    )


def test_make_run_names_every_setting_a_person_left_in_the_environment() -> None:
    from patchcast_tools.local.stack import settings_lines

    assert settings_lines({"PATH": "/bin", "PATCHCAST_API_PORT": "8123", "PATCHCAST_STATE_DIR": "/x"}).split() == [
        "settings",
        "all",
        "defaults",
    ]
    lines = settings_lines({"PATCHCAST_DOWNLOAD_LINK_DAYS": "0", "POWERTOOLS_LOG_LEVEL": "DEBUG"}).splitlines()
    assert lines[0].split()[:2] == ["settings", "PATCHCAST_DOWNLOAD_LINK_DAYS=0"]
    assert lines[1].split()[0] == "POWERTOOLS_LOG_LEVEL=DEBUG" and all("(from your environment)" in x for x in lines)


def test_make_run_logs_the_handlers_at_info_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patchcast_tools.local.stack import LocalStack

    monkeypatch.delenv("POWERTOOLS_LOG_LEVEL", raising=False)
    stack = LocalStack(state_dir=tmp_path / ".local", api_port=8000, aws_port=5000, outbox_port=8025)
    assert stack.env()["POWERTOOLS_LOG_LEVEL"] == "INFO"
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    assert stack.env()["POWERTOOLS_LOG_LEVEL"] == "WARNING"
