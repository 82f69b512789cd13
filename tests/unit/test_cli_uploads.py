"""patchctl's side of long uploads, without a network: a token renewed once after a 401, completion retried
after a gateway timeout, files above the API's limit refused before a byte is sent, and token lifetimes that
match Cognito's (the user pool's settings only a deploy can prove are pinned here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from requests.adapters import BaseAdapter

from chalicelib.domain.releases import body as release_body
from infra.template import resources
from patchcast_tools.cli import upload as uploader
from patchcast_tools.cli.common import Api, CliError, Credentials
from patchcast_tools.local import issuer


class Scripted(BaseAdapter):
    """Answers each request with the next status of a script, and records the bearer token it carried."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = iter(statuses)
        self.tokens: list[str] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        self.tokens.append(str(request.headers["Authorization"]).removeprefix("Bearer "))
        resp = requests.Response()
        resp.status_code = next(self.statuses)
        resp._content = b'{"id": "r1", "status": "awaiting-upload"}' if resp.status_code < 300 else b'{"error": "e"}'
        return resp

    def close(self) -> None:
        pass


def _api(statuses: list[int], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Api, Scripted]:
    renewed = iter(f"fresh-{n}" for n in range(1, 10))
    monkeypatch.setattr("patchcast_tools.cli.common._cognito_refresh", lambda client_id, token: next(renewed))
    api = Api("http://api.test", "release-engineer", Credentials("release-engineer", env))
    scripted = Scripted(statuses)
    api.http.mount("http://api.test", scripted)
    return api, scripted


REFRESHABLE = {"PATCHCAST_TOKEN": "old", "PATCHCAST_REFRESH_TOKEN": "refresh", "PATCHCAST_CLIENT_ID": "client"}


def test_a_401_is_retried_once_with_a_renewed_token(monkeypatch: pytest.MonkeyPatch) -> None:
    api, scripted = _api([401, 200, 200], REFRESHABLE, monkeypatch)
    assert api.call("GET", "/releases/r1")["id"] == "r1"
    api.call("GET", "/releases/r1")
    assert scripted.tokens == ["old", "fresh-1", "fresh-1"]  # renewed once, then kept


def test_a_second_401_is_a_refusal_not_a_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    api, scripted = _api([401, 401], REFRESHABLE, monkeypatch)
    with pytest.raises(CliError, match=r"\(401\)"):
        api.call("GET", "/releases/r1")
    assert scripted.tokens == ["old", "fresh-1"]


def test_a_token_without_a_refresh_token_says_how_to_renew_it(monkeypatch: pytest.MonkeyPatch) -> None:
    api, _ = _api([401], {"PATCHCAST_TOKEN": "old"}, monkeypatch)
    with pytest.raises(CliError, match="PATCHCAST_REFRESH_TOKEN and PATCHCAST_CLIENT_ID"):
        api.call("GET", "/releases/r1")


def test_completion_is_retried_after_a_gateway_timeout_and_not_after_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploader, "RETRY_BASE_SECONDS", 0.0)
    api, scripted = _api([504, 504, 202], REFRESHABLE, monkeypatch)
    assert uploader.complete(api, "r1", {"sha256": "0" * 64})["id"] == "r1"
    assert len(scripted.tokens) == 3
    api, scripted = _api([400], REFRESHABLE, monkeypatch)
    with pytest.raises(CliError, match=r"\(400\)"):
        uploader.complete(api, "r1", {"sha256": "0" * 64})
    assert len(scripted.tokens) == 1


@pytest.fixture
def sparse(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "huge.zip"
    with path.open("wb") as f:
        f.truncate(uploader.MAX_FILE_SIZE + 1)  # sparse: no disk blocks
    yield path


def test_patchctl_refuses_a_file_above_the_apis_limit_before_creating_the_release(
    sparse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patchcast_tools.cli import build_parser

    sent: list[Any] = []
    monkeypatch.setattr(Api, "call", lambda self, *a, **k: sent.append(a))
    args = build_parser().parse_args(
        [
            "release",
            "create",
            "--product",
            "P",
            "--version",
            "1",
            "--kind",
            "patch",
            "--severity",
            "2",
            "--title",
            "T",
            "--file",
            str(sparse),
        ]
    )
    with pytest.raises(CliError, match=f"largest release file is {uploader.MAX_FILE_SIZE} bytes"):
        args.func(args)
    assert sent == []


def test_patchctls_limit_is_the_apis() -> None:
    assert uploader.MAX_FILE_SIZE == release_body.MAX_FILE_SIZE


def _app_client() -> dict[str, Any]:
    props: dict[str, Any] = resources("prod")["UserPoolClient"]["Properties"]
    return props


def test_the_local_issuer_mints_tokens_that_live_as_long_as_the_user_pools_id_tokens(tmp_path: Path) -> None:
    client = _app_client()
    assert client["TokenValidityUnits"]["IdToken"] == "minutes"
    issuer.ensure_keys(tmp_path)
    claims = jwt.decode(issuer.mint(tmp_path, role="release-engineer"), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == client["IdTokenValidity"] * 60 == 3600


def test_local_token_lifetimes_can_be_shortened_for_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHCAST_LOCAL_TOKEN_SECONDS", "5")
    issuer.ensure_keys(tmp_path)
    claims = jwt.decode(issuer.mint(tmp_path, role="release-engineer"), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 5


def test_the_app_client_lets_patchctl_renew_its_token_for_30_days() -> None:
    client = _app_client()
    assert "ALLOW_REFRESH_TOKEN_AUTH" in client["ExplicitAuthFlows"]
    assert client["GenerateSecret"] is False  # REFRESH_TOKEN_AUTH without a SECRET_HASH
    assert (client["RefreshTokenValidity"], client["TokenValidityUnits"]["RefreshToken"]) == (30, "days")
