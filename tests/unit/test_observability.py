from __future__ import annotations

import io
import json

import pytest

from chalicelib import observability


@pytest.mark.parametrize("disabled", ["true", "false"])
def test_an_invocation_emits_what_it_counted_once_and_leaves_nothing_for_the_next(
    disabled: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", disabled)
    observability.metrics.clear_metrics()  # a fresh container (a test before may have counted outside a handler)
    for sent in (3, 4):  # two invocations of one warm container
        with observability.flushing_metrics():
            observability.count_outcomes({"sent": sent, "failed": 0})
        assert observability.metrics.metric_set == {}  # disabled metrics must not pile up either
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [d["EmailsSent"] for d in documents] == ([] if disabled == "true" else [[3.0], [4.0]])


def test_log_lines_of_a_delivery_batch_carry_its_release_batch_and_account_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a delivery message of two accounts' recipients
    out = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", out)
    level = observability.logger.log_level
    observability.logger.setLevel("INFO")
    message = {
        "release_id": "r1",
        "notice": "release",
        "batch_id": "0-1-abc",
        "recipients": [
            {"account_id": "acme", "subscription_id": "s1", "email": "a@x.test"},
            {"account_id": "beta", "subscription_id": "s2", "email": "b@x.test"},
        ],
    }
    # WHEN the handler logs while it handles the message, and after
    with observability.message_context(message):
        observability.logger.info("batch delivered")
    observability.logger.info("next")
    observability.logger.setLevel(level)
    # THEN the line within carries the ids, and nothing stays for the next message
    within, after = [json.loads(line) for line in out.getvalue().splitlines()][-2:]
    assert (within["release_id"], within["batch_id"], within["account_ids"]) == ("r1", "0-1-abc", ["acme", "beta"])
    assert "release_id" not in after and "account_ids" not in after


def test_a_traced_invocation_returns_what_the_handler_returns_and_raises_what_it_raises() -> None:
    assert observability.traced("on_deliver", lambda: 42) == 42
    with pytest.raises(KeyError):
        observability.traced("on_deliver", lambda: {}["missing"])
