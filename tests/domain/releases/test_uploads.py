"""Completing an upload on the in-memory store: the SHA-256 declared at creation cannot change on completion, a
multipart completion names every part once, and what is refused assembles nothing and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases import uploads
from tests.domain.world import ENGINEER, NAMES, Queues, account, store_with

DECLARED = "a" * 64


@dataclass
class _Blobs:
    """The object store's calls completion makes: the objects present, the multipart uploads assembled."""

    present: set[str] = field(default_factory=set)
    assembled: list[tuple[str, str, list[tuple[int, str]]]] = field(default_factory=list)

    def exists(self, key: str) -> bool:
        return key in self.present

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        self.assembled.append((key, upload_id, parts))


def _awaiting(*, multipart: bool, sha256: str | None = DECLARED) -> Any:
    fields: dict[str, Any] = {"status": ReleaseStatus.AWAITING_UPLOAD, "published_at": None, "sha256": sha256}
    if multipart:
        fields |= {"upload_id": "up-1", "size": 25, "part_size": 10}  # three parts
    return store_with(account("prem1", "premium"), subscribers=0, **fields)


def _complete(store: Any, blobs: _Blobs, queues: Queues, body: dict[str, Any]) -> Any:
    return uploads.complete(store, blobs, queues, ENGINEER, "r1", body)  # type: ignore[arg-type]


def _parts(*numbers: int) -> list[dict[str, Any]]:
    return [{"part_number": n, "etag": f"e{n}"} for n in numbers]


@pytest.mark.parametrize("multipart", [False, True])
def test_a_sha256_other_than_the_one_declared_at_creation_is_refused_and_changes_nothing(multipart: bool) -> None:
    store, blobs, queues = _awaiting(multipart=multipart), _Blobs(present={"uploads/r1/f.zip"}), Queues()
    body: dict[str, Any] = {"sha256": "b" * 64, "parts": _parts(1, 2, 3)} if multipart else {"sha256": "b" * 64}
    with pytest.raises(BadRequest) as refused:
        _complete(store, blobs, queues, body)
    assert "differs from the SHA-256 declared" in str(refused.value)
    assert store.releases["r1"].sha256 == DECLARED and blobs.assembled == [] and queues.sent == []


def test_the_sha256_declared_at_creation_completes_a_post_upload_and_queues_its_check() -> None:
    store, blobs, queues = _awaiting(multipart=False), _Blobs(present={"uploads/r1/f.zip"}), Queues()
    done = _complete(store, blobs, queues, {"sha256": DECLARED})
    assert done.sha256 == DECLARED and queues.on(NAMES.uploads_queue) != []


def test_a_sha256_first_declared_on_completion_is_kept() -> None:
    store, blobs, queues = _awaiting(multipart=True, sha256=None), _Blobs(), Queues()
    _complete(store, blobs, queues, {"sha256": "c" * 64, "parts": _parts(3, 1, 2)})
    assert store.releases["r1"].sha256 == "c" * 64
    assert blobs.assembled == [("uploads/r1/f.zip", "up-1", [(1, "e1"), (2, "e2"), (3, "e3")])]


@pytest.mark.parametrize("numbers", [(1, 1, 2), (1, 2, 2), (0, 1, 2), (1, 2, 4), (1, 2), (1, 2, 3, 3)])
def test_parts_numbered_other_than_one_to_the_count_once_each_are_refused(numbers: tuple[int, ...]) -> None:
    store, blobs, queues = _awaiting(multipart=True), _Blobs(), Queues()
    with pytest.raises(BadRequest) as refused:
        _complete(store, blobs, queues, {"sha256": DECLARED, "parts": _parts(*numbers)})
    assert "'parts'" in str(refused.value) and blobs.assembled == [] and queues.sent == []
