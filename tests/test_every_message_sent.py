"""Every message the session's local SES accepted is one SES would accept and a reader can parse: lines within
998 octets, headers ASCII, each part decoding without defects. The strict local SES refuses the rest already;
this judges the whole session at its end, whichever builder sent what."""

from __future__ import annotations

import pytest

from tests.session_records import Records


@pytest.mark.after_all
def test_every_message_the_session_sent_is_fit_for_ses(session_records: Records) -> None:
    """(each worker's SES audits what it accepted; ``tests/session_records.py`` gathers the problems)"""
    assert not session_records.mail_problems, "\n".join(session_records.mail_problems)
