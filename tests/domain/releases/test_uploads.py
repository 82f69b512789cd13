"""An upload on the in-memory store: part URLs for the parts asked, and completion, where the SHA-256 declared at
creation cannot change, a multipart completion names every part once, and what is refused assembles nothing
and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.domain.core.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases import uploads
from tests.domain.logs import log_lines
from tests.domain.world import ENGINEER, NAMES, Queues, account, store_with

DECLARED = "a" * 64


@dataclass
class _Blobs:
    """The object store's calls completion makes: the objects present, the multipart uploads assembled."""

    present: set[str] = field(default_factory=set)
    assembled: list[tuple[str, str, list[tuple[int, str]]]] = field(default_factory=list)
    forgotten: bool = False  # S3 no longer knows the upload (assembled already, or aborted)

    def exists(self, key: str) -> bool:
        return key in self.present

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        if self.forgotten:
            raise NotFound("NoSuchUpload")
        self.assembled.append((key, upload_id, parts))

    def presigned_part(self, key: str, upload_id: str, part_number: int, *, expires: int) -> str:
        return f"https://s3.test/{key}?uploadId={upload_id}&partNumber={part_number}&expires={expires}"


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
    assert str(refused.value) == "Field 'sha256' differs from the SHA-256 declared when the release was created."
    assert store.releases["r1"].sha256 == DECLARED and blobs.assembled == [] and queues.sent == []


def test_the_sha256_declared_at_creation_completes_a_post_upload_and_queues_its_check() -> None:
    store, blobs, queues = _awaiting(multipart=False), _Blobs(present={"uploads/r1/f.zip"}), Queues()
    with log_lines("release_id", "multipart") as lines:
        done = _complete(store, blobs, queues, {"sha256": DECLARED})
    assert done.sha256 == DECLARED and queues.on(NAMES.uploads_queue) == [
        {"kind": "upload-ready", "key": "uploads/r1/f.zip"}
    ]
    assert lines == [("INFO", "upload completed", "r1", False)]


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


def test_part_urls_are_minted_for_the_parts_asked_once_each_in_order() -> None:
    store, blobs = _awaiting(multipart=True), _Blobs()
    got = uploads.part_urls(store, blobs, ENGINEER, "r1", {"parts": [3, 1, 3]})  # type: ignore[arg-type]
    url = "https://s3.test/uploads/r1/f.zip?uploadId=up-1&partNumber={}&expires=3600"
    assert got == {
        "part_size": 10,
        "part_count": 3,
        "expires_in": 3600,
        "parts": [{"part_number": 1, "url": url.format(1)}, {"part_number": 3, "url": url.format(3)}],
    }
    hundred = uploads.part_urls(store, blobs, ENGINEER, "r1", {"parts": [1] * 100})  # type: ignore[arg-type]
    assert [p["part_number"] for p in hundred["parts"]] == [1]


@pytest.mark.parametrize(
    "body", [{"parts": []}, {"parts": [0]}, {"parts": [4]}, {"parts": [True]}, {"parts": ["1"]}, {"parts": 1},
             {"parts": [1] * 101}, {}, {"parts": [1], "extra": 1}],
)  # fmt: skip
def test_part_urls_for_other_than_1_to_100_part_numbers_of_the_file_are_400(body: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as bad:
        uploads.part_urls(_awaiting(multipart=True), _Blobs(), ENGINEER, "r1", body)  # type: ignore[arg-type]
    expected = (
        "Unknown field(s): extra."
        if "extra" in body
        else "Field 'parts' must be a list of 1 to 100 part numbers from 1 to 3."
    )
    assert str(bad.value) == expected and bad.value.code in ("invalid_field", "unknown_field")


def test_part_urls_are_409_for_a_post_upload_or_a_release_no_longer_awaiting_one() -> None:
    with pytest.raises(Conflict) as post:
        uploads.part_urls(_awaiting(multipart=False), _Blobs(), ENGINEER, "r1", {"parts": [1]})  # type: ignore[arg-type]
    assert post.value.code == "not_multipart" and str(post.value) == (
        "Release r1 uploads with a presigned POST, not in parts."
    )
    published = store_with(account("prem1", "premium"), subscribers=0, upload_id="up-1", size=25, part_size=10)
    with pytest.raises(Conflict) as done:
        uploads.part_urls(published, _Blobs(), ENGINEER, "r1", {"parts": [1]})  # type: ignore[arg-type]
    assert done.value.code == "not_awaiting_upload" and str(done.value) == (
        "Release r1 is published, not awaiting an upload."
    )


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([{"part_number": 1, "etag": "e1"}], "Field 'parts' must list all 3 parts as {part_number, etag}."),
        ([{"part_number": 1}, {"part_number": 2, "etag": "e"}, {"part_number": 3, "etag": "e"}],
         "Each entry of 'parts' must be {part_number, etag}."),
        (["e1", "e2", "e3"], "Each entry of 'parts' must be {part_number, etag}."),
        (_parts(1, 2, 2), "Field 'parts' must number the parts 1 to 3, once each."),
    ],
)  # fmt: skip
def test_a_completion_s_bad_parts_are_400_saying_what_is_wrong(parts: list[Any], message: str) -> None:
    store, blobs, queues = _awaiting(multipart=True), _Blobs(), Queues()
    with pytest.raises(BadRequest) as bad:
        _complete(store, blobs, queues, {"sha256": DECLARED, "parts": parts})
    assert str(bad.value) == message and bad.value.code == "invalid_field" and blobs.assembled == []


def test_an_etag_is_kept_to_100_characters() -> None:
    store, blobs = _awaiting(multipart=True), _Blobs()
    parts = [{"part_number": n, "etag": "e" * 101} for n in (1, 2, 3)]
    _complete(store, blobs, Queues(), {"sha256": DECLARED, "parts": parts})
    assert [len(etag) for _, etag in blobs.assembled[0][2]] == [100] * 3


def test_an_upload_s3_already_assembled_completes_and_one_it_aborted_is_400_upload_incomplete() -> None:
    store, blobs = _awaiting(multipart=True), _Blobs(present={"uploads/r1/f.zip"}, forgotten=True)
    with log_lines("release_id") as lines:
        done = _complete(store, blobs, Queues(), {"sha256": DECLARED, "parts": _parts(1, 2, 3)})
    assert done.sha256 == DECLARED and ("INFO", "multipart upload was already assembled", "r1") in lines
    aborted = _awaiting(multipart=True)
    with pytest.raises(BadRequest) as gone:
        _complete(aborted, _Blobs(forgotten=True), Queues(), {"sha256": DECLARED, "parts": _parts(1, 2, 3)})
    assert gone.value.code == "upload_incomplete" and str(gone.value).startswith(
        "S3 no longer has this multipart upload (uploads abandoned for 7 days are aborted)"
    )


def test_a_post_upload_completed_before_its_file_arrived_is_400_and_a_completed_one_answers_again() -> None:
    store, queues = _awaiting(multipart=False), Queues()
    with pytest.raises(BadRequest) as early:
        _complete(store, _Blobs(), queues, {"sha256": DECLARED})
    assert early.value.code == "upload_incomplete" and queues.sent == []
    assert str(early.value) == "The file has not been uploaded yet; POST it to the upload URL first."
    verified = store_with(account("prem1", "premium"), subscribers=0, sha256=DECLARED)
    with log_lines("release_id", "status") as lines:
        assert _complete(verified, _Blobs(), queues, {}).status == ReleaseStatus.PUBLISHED
    assert lines == [("INFO", "upload completed again", "r1", "published")]
    assert _complete(verified, _Blobs(), queues, {"sha256": DECLARED}).status == ReleaseStatus.PUBLISHED
    with pytest.raises(Conflict):
        _complete(verified, _Blobs(), queues, {"sha256": "b" * 64})
    assert queues.sent == []
