"""Key rotation end to end on the session's Secrets Manager: ``patchctl keys rotate``, the cached key
ring, and download links signed with the previous key, through the app."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.keys import KeySource
from chalicelib.domain.access.tokens import Purpose, mint
from patchcast_tools.cli import main
from tests.app.test_downloads import World, _world
from tests.conftest import unique


def _rotate(capsys: pytest.CaptureFixture[str], name: str, *extra: str) -> dict[str, Any]:
    with pytest.raises(SystemExit) as done:
        main(["keys", "rotate", "--secret", name, "--json", *extra])
    assert done.value.code == 0
    return json.loads(capsys.readouterr().out)


def _link(world: World, source: KeySource) -> str:
    ring = source.refresh()
    return mint(
        ring,
        Purpose.DOWNLOAD,
        account_id=world.account,
        subject=world.sub,
        release_id=world.release.release_id,
        expires=int(time.time()) + 3600,
    )


@pytest.fixture
def own_keys(wired: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, KeySource]:
    """A signing-key secret of this test's own, swapped into the app's wiring for the test."""
    name = unique("patchcast/test/keys-")
    client = wired.client("secretsmanager")
    client.create_secret(Name=name, SecretString=json.dumps({"current": "k1", "k1": secrets.token_urlsafe(48)}))
    source = KeySource(client, name)
    monkeypatch.setitem(wired.__dict__, "keys", source)
    return name, source


def test_links_of_the_previous_key_work_until_it_is_retired(
    app_client: Client, wired: Any, own_keys: tuple[str, KeySource], capsys: pytest.CaptureFixture[str]
) -> None:
    name, source = own_keys
    world = _world(wired)
    # GIVEN a link signed with k1
    old = _link(world, source)
    assert old.startswith("k1.")
    # WHEN the keys are rotated once
    assert _rotate(capsys, name) == {"current": "k2", "previous": "k1", "kept": ["k1"], "retired": [], "secret": name}
    new = _link(world, source)
    # THEN links of both keys download
    assert new.startswith("k2.")
    assert app_client.http.get(f"/d/{old}").status_code == 302
    assert app_client.http.get(f"/d/{new}").status_code == 302
    # WHEN rotated again, k1 is retired: its links answer 404, k2's still work
    assert _rotate(capsys, name)["retired"] == ["k1"]
    source.refresh()
    assert app_client.http.get(f"/d/{old}").status_code == 404
    assert app_client.http.get(f"/d/{new}").status_code == 302


def test_a_container_with_a_cached_ring_accepts_a_link_of_a_key_rotated_in_elsewhere(
    app_client: Client, wired: Any, own_keys: tuple[str, KeySource], capsys: pytest.CaptureFixture[str]
) -> None:
    name, source = own_keys
    world = _world(wired)
    assert source.ring().current == "k1"  # cached for five minutes from here
    _rotate(capsys, name)
    assert source.ring().current == "k1", "the cache is still warm"
    # GIVEN a link minted by another container that already signs with k2
    elsewhere = KeySource(wired.client("secretsmanager"), name)
    link = _link(world, elsewhere)
    # THEN this container re-reads the ring once on the unknown kid, and the link works
    assert app_client.http.get(f"/d/{link}").status_code == 302
    assert source.ring().current == "k2"


def test_unknown_key_ids_re_read_the_secret_at_most_every_30_seconds(wired: Any) -> None:
    calls: list[str] = []
    client = wired.client("secretsmanager")
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get"))
    now = [1000.0]
    source = KeySource(client, wired.settings.names.signing_secret, clock=lambda: now[0])
    source.ring()
    for kid in ("x1", "x2", "x3"):
        source.ring(kid)
    assert len(calls) == 2  # the first read and one forced re-read
    now[0] += 31
    source.ring("x4")
    assert len(calls) == 3


def test_the_cli_says_clearly_when_the_secret_does_not_exist(capsys: pytest.CaptureFixture[str], wired: Any) -> None:
    with pytest.raises(SystemExit) as done:
        main(["keys", "rotate", "--secret", "patchcast/nope/signing-keys"])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("patchctl: cannot rotate patchcast/nope/signing-keys") and "Traceback" not in err
