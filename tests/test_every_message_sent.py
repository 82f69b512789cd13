"""Every message the session's local SES accepted is one SES would accept and a reader can parse: lines within
998 octets, headers ASCII, each part decoding without defects. The strict local SES refuses the rest already;
this judges the whole session at its end, whichever builder sent what."""

from __future__ import annotations

import pytest

from patchcast_tools.local.strict_ses import audit
from tests.conftest import sent_messages


@pytest.mark.after_all
def test_every_message_the_session_sent_is_fit_for_ses(moto_server: str) -> None:
    problems = []
    for n, message in enumerate(sent_messages(moto_server)):
        raw = str(message["raw"]).encode("utf-8")
        problems += [f"message {n} to {message['to']}: {p}" for p in audit(raw)]
    assert not problems, "\n".join(problems)
