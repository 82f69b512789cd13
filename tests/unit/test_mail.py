from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

import pytest

from chalicelib import mail
from chalicelib.models import Release


def _release(**kw: object) -> Release:
    base = dict(
        release_id="r1", product="M3", version="13.4", kind="patch", severity=1, channel="ga",
        title="Fix <script>alert(1)</script>", summary="Rounding & totals", status="published",
        created_at="t", created_by="u", filename="fix.zip", size=2048, sha256="ab" * 32, object_key="uploads/r1/fix.zip",
    )  # fmt: skip
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
    template = mail.NoticeTemplate(build, sender="alerts@p.test", release=release, expires=UNTIL, download=download)
    boundaries = set()
    for n, to in enumerate(("ops@acme.example", "first.last+alerts@sub.acme-corp.example")):
        links = _links(n, download)
        filled = template.render(to, links)
        _same_but_message_id_and_date(filled, build(sender="alerts@p.test", to=to, release=release, links=links))
        assert b"patchcast.invalid" not in filled
        boundaries.add(_boundary(filled))
    assert len(boundaries) == 1  # both filled in from the one rendering, not rendered again


def test_each_filled_notice_has_its_own_message_id() -> None:
    template = mail.NoticeTemplate(mail.release_notice, sender="Alerts <alerts@p.test>", release=_release(),
                                   expires=UNTIL, download=True)  # fmt: skip
    ids = {email.message_from_bytes(template.render("a@b.example", _links(1)))["Message-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(i.endswith("@p.test>") for i in ids)


@pytest.mark.parametrize(
    "to", ["o'brien@acme.example", "x==y@acme.example", "josé@acme.example", "a@b.example\r\nBcc: x@evil.example"]
)
def test_a_value_the_email_package_would_encode_is_rendered_in_full(to: str) -> None:
    template = mail.NoticeTemplate(mail.release_notice, sender="alerts@p.test", release=_release(), expires=UNTIL,
                                   download=True)  # fmt: skip
    if "\r" in to:  # the builder refuses a header injection; the template must not let it through either
        with pytest.raises(ValueError):
            template.render(to, _links(1))
        return
    assert _boundary(template.render(to, _links(1))) != _boundary(template.render(to, _links(1)))  # rendered anew
    _same_but_message_id_and_date(template.render(to, _links(1)),
                                  mail.release_notice(sender="alerts@p.test", to=to, release=_release(), links=_links(1)))  # fmt: skip


def test_the_template_renders_once_and_only_when_a_recipient_needs_it() -> None:
    calls: list[str] = []

    def build(**kw: object) -> bytes:
        calls.append(str(kw["to"]))
        return mail.release_notice(**kw)  # type: ignore[arg-type]

    template = mail.NoticeTemplate(build, sender="alerts@p.test", release=_release(), expires=UNTIL, download=True)
    assert calls == []  # a batch of only on-call and CSM copies pays nothing
    for n in range(3):
        template.render(f"u{n}@acme.example", _links(n))
    assert len(calls) == 1 and calls[0].endswith("@patchcast.invalid")
