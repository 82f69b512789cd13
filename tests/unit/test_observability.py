from __future__ import annotations

import json

import pytest

from chalicelib import observability


@pytest.mark.parametrize("disabled", ["true", "false"])
def test_an_invocation_emits_what_it_counted_once_and_leaves_nothing_for_the_next(
    disabled: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", disabled)
    for sent in (3, 4):  # two invocations of one warm container
        with observability.flushing_metrics():
            observability.count_outcomes({"sent": sent, "failed": 0})
        assert observability.metrics.metric_set == {}  # disabled metrics must not pile up either
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [d["EmailsSent"] for d in documents] == ([] if disabled == "true" else [[3.0], [4.0]])
