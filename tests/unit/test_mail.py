from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

import pytest

from chalicelib.domain.core.models import Release
from chalicelib.domain.mail import mime
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.mail.templates import NoticeTemplate


def _release(**kw: object) -> Release:
    base = dict(
        release_id="r1",
        product="M3",
        version="13.4",
        kind="patch",
        severity=1,
        channel="ga",
        title="Fix <script>alert(1)</script>",
        summary="Rounding & totals",
        status="published",
        created_at="t",
        created_by="u",
        filename="fix.zip",
        size=2048,
        sha256="ab" * 32,
        object_key="uploads/r1/fix.zip",
    )
    base.update(kw)
    return Release(**base)  # type: ignore[arg-type]


def _notice(release: Release) -> email.message.EmailMessage:
    links = mail.Links("https://p.test/d/tok", "https://p.test/unsubscribe?token=u", datetime(2027, 1, 1, tzinfo=UTC))
    raw = mail.release_notice(sender="alerts@p.test", to="ops@acme.example", release=release, links=links)
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_notice_has_rfc8058_headers_and_severity_product_subject() -> None:
    msg = _notice(_release())
    assert msg["List-Unsubscribe"] == "<https://p.test/unsubscribe?token=u>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"].startswith("[Sev 1] [M3] ")


def test_notice_carries_every_field_in_text_and_escapes_html() -> None:
    msg = _notice(_release())
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    for value in ("M3", "patch", "13.4", "fix.zip", "ab" * 32, "https://p.test/d/tok", "2027-01-01"):
        assert value in text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Rounding &amp; totals" in page


def test_crlf_in_a_title_never_reaches_a_header() -> None:
    msg = _notice(_release(title="Fix\r\nBcc: victim@example.com"))
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]


# -- the per-release template delivery fills in for each recipient ------------------------------------------
UNTIL = datetime(2027, 1, 1, tzinfo=UTC)


def _links(n: int, download: bool = True) -> mail.Links:
    dl = f"https://p.test/d/v1.tok{n}-_~.sig" if download else None
    return mail.Links(dl, f"https://p.test/unsubscribe?token=u{n}.x", UNTIL)


def _boundary(raw: bytes) -> str | None:
    return email.message_from_bytes(raw).get_boundary()


def _same_but_message_id_and_date(a: bytes, b: bytes) -> None:
    ma, mb = (email.message_from_bytes(x, policy=default) for x in (a, b))
    skip = {"Message-ID", "Date", "Content-Type"}  # Content-Type: the part boundary is random
    assert [(k, str(v)) for k, v in ma.items() if k not in skip] == [
        (k, str(v)) for k, v in mb.items() if k not in skip
    ]
    assert ma.get_content_type() == mb.get_content_type()
    for kind in (("plain",), ("html",)):
        assert ma.get_body(kind).get_content() == mb.get_body(kind).get_content()  # type: ignore[union-attr]


TEMPLATE_CASES = [
    (mail.release_notice, _release(), True),
    (mail.release_notice, _release(title="Größe & <b>Ünïcode</b> 修正\r\nBcc: x@evil.example", summary="a\nb é"), True),
    (mail.release_notice, _release(object_key=None, filename=None, article_url="https://kb.test/a?b=1&c=<2>"), False),
    (mail.recall_notice, _release(status="yanked", reason="Breaks <totals> & more", superseded_by="r2"), True),
]


@pytest.mark.parametrize(("build", "release", "download"), TEMPLATE_CASES)
def test_a_filled_template_is_the_message_the_builder_renders(build, release, download) -> None:  # type: ignore[no-untyped-def]
    template = NoticeTemplate(build, sender="alerts@p.test", release=release, expires=UNTIL, download=download)
    boundaries = set()
    for n, to in enumerate(("ops@acme.example", "first.last+alerts@sub.acme-corp.example")):
        links = _links(n, download)
        filled = template.render(to, links)
        _same_but_message_id_and_date(filled, build(sender="alerts@p.test", to=to, release=release, links=links))
        assert b"patchcast.invalid" not in filled
        boundaries.add(_boundary(filled))
    assert len(boundaries) == 1  # both filled in from the one rendering, not rendered again


def test_each_filled_notice_has_its_own_message_id() -> None:
    template = NoticeTemplate(
        mail.release_notice, sender="Alerts <alerts@p.test>", release=_release(), expires=UNTIL, download=True
    )
    ids = {email.message_from_bytes(template.render("a@b.example", _links(1)))["Message-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(i.endswith("@p.test>") for i in ids)


@pytest.mark.parametrize(
    "to", ["o'brien@acme.example", "x==y@acme.example", "josé@acme.example", "a@b.example\r\nBcc: x@evil.example"]
)
def test_a_value_the_email_package_would_encode_is_rendered_in_full(to: str) -> None:
    template = NoticeTemplate(
        mail.release_notice, sender="alerts@p.test", release=_release(), expires=UNTIL, download=True
    )
    if "\r" in to:  # the builder refuses a header injection; the template must not let it through either
        with pytest.raises(ValueError):
            template.render(to, _links(1))
        return
    assert _boundary(template.render(to, _links(1))) != _boundary(template.render(to, _links(1)))  # rendered anew
    _same_but_message_id_and_date(
        template.render(to, _links(1)),
        mail.release_notice(sender="alerts@p.test", to=to, release=_release(), links=_links(1)),
    )


def test_the_template_renders_once_and_only_when_a_recipient_needs_it() -> None:
    calls: list[str] = []

    def build(**kw: object) -> bytes:
        calls.append(str(kw["to"]))
        return mail.release_notice(**kw)  # type: ignore[arg-type]

    template = NoticeTemplate(build, sender="alerts@p.test", release=_release(), expires=UNTIL, download=True)
    assert calls == []  # a batch of only on-call and CSM copies pays nothing
    for n in range(3):
        template.render(f"u{n}@acme.example", _links(n))
    assert len(calls) == 1 and calls[0].endswith("@patchcast.invalid")


# -- what SES accepts: short lines, 7bit/QP/base64, ASCII headers, for every message the pipeline builds -------
LONG_SUMMARY = ("Totals were rounded per invoice instead of per line; " * 80)[:4000]
NON_ASCII = dict(title="Größe & <b>Ünïcode</b> 修正", summary="Rundung é " * 40 + "\n" + "修正" * 300)


def _every_message(release: Release) -> dict[str, bytes]:
    from chalicelib.domain.mail import copies

    links = mail.Links("https://p.test/d/tok", "https://p.test/unsubscribe?token=u", UNTIL)
    kw = dict(sender="Pätchcast Alerts <alerts@p.test>", to="Zoë Ops <ops@acme.example>", release=release)
    return {
        "notice": mail.release_notice(**kw, links=links),  # type: ignore[arg-type]
        "fresh link": mail.release_notice(**kw, links=links, note="You asked for a fresh download link."),  # type: ignore[arg-type]
        "recall": mail.recall_notice(**kw, links=links),  # type: ignore[arg-type]
        "on-call": copies.oncall_copy(**kw, account_id="a1"),  # type: ignore[arg-type]
        "csm": copies.csm_copy(**kw, account_id="a1", notified=["ops@acme.example", "dev@acme.example"]),  # type: ignore[arg-type]
        "confirmation": mail.confirmation(
            sender=kw["sender"],
            to=kw["to"],
            account_name=release.title,  # type: ignore[arg-type]
            products=["M3"],
            confirm_url="https://p.test/c?t=x",
            hours=48,
        ),
    }


def _ctes(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=default)
    return [str(p["Content-Transfer-Encoding"]) for p in parsed.walk() if not p.is_multipart()]


@pytest.mark.parametrize(
    ("fields", "plain", "page"),
    [
        ({}, "7bit", "7bit"),
        ({"summary": LONG_SUMMARY}, "quoted-printable", "7bit"),  # the page wraps at spaces, the text cannot
        ({"summary": "x" * 3000}, "quoted-printable", "quoted-printable"),  # an unbreakable run
        (NON_ASCII, "base64", "base64"),  # mostly CJK: base64 is shorter than quoted-printable
        ({"title": "Größe"}, "quoted-printable", "quoted-printable"),
    ],
)
def test_every_message_has_short_lines_ascii_headers_and_the_lightest_encoding(fields, plain, page) -> None:  # type: ignore[no-untyped-def]
    from patchcast_tools.local.strict_ses import audit

    release = _release(**fields)
    for name, raw in _every_message(release).items():
        assert audit(raw) == [], name
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998, name
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert head.isascii() and max(len(line) for line in head.split(b"\r\n")) <= 998, name
        if name in ("notice", "fresh link"):
            assert _ctes(raw) == [plain, page]
        parsed = email.message_from_bytes(raw, policy=default)
        assert parsed["To"].addresses[0].display_name == "Zoë Ops"
        for part in parsed.walk():
            if part["Content-Transfer-Encoding"] in ("quoted-printable", "base64"):
                assert all(len(line) <= 76 for line in part.get_payload().splitlines()), name  # RFC 2045


def test_the_summary_reads_the_same_after_encoding() -> None:
    for fields in ({"summary": LONG_SUMMARY}, NON_ASCII, {"summary": "x" * 3000}):
        msg = _notice(_release(**fields))
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert fields["summary"] in text
        assert " ".join(fields["summary"].split()) in " ".join(page.split())  # HTML: wrapped at spaces only


def test_a_non_ascii_subject_is_rfc2047_encoded_in_words_of_at_most_75() -> None:
    raw = mail.release_notice(
        sender="alerts@p.test", to="ops@acme.example", release=_release(**NON_ASCII), links=_links(1)
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    words = [w for w in head.replace("\r\n", " ").split() if w.startswith("=?")]
    assert words and all(len(w) <= 75 for w in words)
    assert (
        email.message_from_bytes(raw, policy=default)["Subject"]
        == "[Sev 1] [M3] Größe & <b>Ünïcode</b> 修正 (patch 13.4)"
    )
    assert b"List-Unsubscribe: <https://p.test/unsubscribe?token=u1.x>\r\n" in raw  # RFC 8058: verbatim, never encoded


@pytest.mark.parametrize("length", range(60, 130, 3))
def test_a_folded_ascii_subject_reads_back_without_a_leading_space(length: int) -> None:
    title = ("M3 critical-solution 5.abcdef " * 5)[: length - 40].strip()
    msg = _notice(_release(title=title))
    assert str(msg["Subject"]) == f"[Sev 1] [M3] {title} (patch 13.4)"


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\u202e", "\ud800", "\udfff", "\x00", "\x1b"])
def test_an_unsafe_character_in_stored_text_renders_a_valid_message(char: str) -> None:
    from patchcast_tools.local.strict_ses import audit

    release = _release(title=f"Fix{char}Bcc: victim@example.com", summary=f"one{char}two", reason=f"why{char}")
    for name, raw in _every_message(release).items():
        assert audit(raw) == [], name
        parsed = email.message_from_bytes(raw, policy=default)
        assert parsed["Bcc"] is None
        assert char not in parsed["Subject"] and "\n" not in parsed["Subject"]
        for part in parsed.walk():
            if not part.is_multipart():
                assert char not in part.get_content(), name  # type: ignore[attr-defined]
    assert mime.header_safe(f"a{char}{char}b") == "a b"


def test_ses_message_id_header_is_the_one_ses_writes() -> None:
    assert mail.ses_message_id_header("0100018f-abc-000000", "us-east-1") == "<0100018f-abc-000000@email.amazonses.com>"
    assert (
        mail.ses_message_id_header("0200018f-abc-000000", "eu-west-1")
        == "<0200018f-abc-000000@eu-west-1.amazonses.com>"
    )


# -- the template stays on the fast path for non-ASCII and long text, and fills encoded parts correctly -----
FAST_CASES = [
    _release(**NON_ASCII),
    _release(summary=LONG_SUMMARY),
    _release(title="Größe", summary="Rundung & Summen é " * 30),
    _release(summary="x" * 3000),
]


@pytest.mark.parametrize("release", FAST_CASES)
def test_an_encoded_part_is_filled_on_the_fast_path_and_decodes_to_the_full_render(release: Release) -> None:
    from patchcast_tools.local.strict_ses import audit

    calls: list[str] = []

    def build(**kw: object) -> bytes:
        calls.append(str(kw["to"]))
        return mail.release_notice(**kw)  # type: ignore[arg-type]

    template = NoticeTemplate(build, sender="alerts@p.test", release=release, expires=UNTIL, download=True)
    long_link = mail.Links("https://p.test/d/v1." + "a" * 400, "https://p.test/unsubscribe?token=" + "b" * 300, UNTIL)
    for n, links in enumerate([_links(1), _links(2), long_link]):
        to = f"user{n}@acme.example"
        filled = template.render(to, links)
        assert audit(filled) == []
        assert b"patchcast.invalid" not in filled
        _same_but_message_id_and_date(
            filled, mail.release_notice(sender="alerts@p.test", to=to, release=release, links=links)
        )
    assert len(calls) == 1  # all three from the one rendering


def test_a_link_too_long_for_its_7bit_line_is_rendered_in_full() -> None:
    def build(*, sender: str, to: str, release: Release, links: mail.Links) -> bytes:  # a link within a long line
        return mime.finish(mime.headers(sender, to, "s", None), f"See {'x' * 300} {links.download}", mime.html_page([]))

    template = NoticeTemplate(build, sender="alerts@p.test", release=_release(), expires=UNTIL, download=True)
    short = template.render("a@b.example", _links(1))
    assert _boundary(short) == _boundary(template.render("a@b.example", _links(2)))  # filled in
    links = mail.Links("https://p.test/d/" + "a" * 880, "https://p.test/unsubscribe?token=u", UNTIL)
    first, second = template.render("a@b.example", links), template.render("a@b.example", links)
    assert _boundary(first) != _boundary(second) != _boundary(short)  # rendered anew each time
    assert all(len(line) <= 998 for line in first.split(b"\r\n"))
    assert _ctes(first) == ["quoted-printable", "7bit"]
