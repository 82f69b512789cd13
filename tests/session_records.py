"""What a session did, gathered in one place for the tests that judge it (marked ``after_all``).

An ``after_all`` test takes one argument, ``session_records``, and judges what the session ran: the AWS calls
``tests/iam_recorder.py`` attributed to a Lambda function (with the tests that made them), the calls that
escaped their handler, what is wrong with the messages the session's SES accepted, and which tests ran.

Without pytest-xdist the session's own records serve and the ``after_all`` tests run last. Under xdist each
worker sees only part of the suite: it runs none of them, and hands its records and the ``after_all`` tests
it collected to the controller (xdist's ``workeroutput``); once every worker is done, the controller runs
those tests on the records of all of them, and reports them as any other test.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from tests import iam_recorder
from tests.iam_recorder import Call

_KEY = "patchcast_session_records"


@dataclass
class Records:
    calls: dict[Call, set[str]] = field(default_factory=dict)  # each call -> the tests that made it
    escaped: set[str] = field(default_factory=set)
    mail_problems: list[str] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)  # node ids of the tests that ran (any outcome)

    def used_by(self, test: str) -> set[Call]:
        return {call for call, tests in self.calls.items() if test in tests}

    def merge(self, other: Records) -> None:
        for call, tests in other.calls.items():
            self.calls.setdefault(call, set()).update(tests)
        self.escaped |= other.escaped
        self.mail_problems += other.mail_problems
        self.ran |= other.ran

    def to_wire(self) -> dict[str, Any]:  # what execnet carries: lists, strings
        return {
            "calls": [[*call.__dict__.values(), sorted(tests)] for call, tests in self.calls.items()],
            "escaped": sorted(self.escaped),
            "mail_problems": self.mail_problems,
            "ran": sorted(self.ran),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Records:
        return cls(
            {Call(*row[:-1]): set(row[-1]) for row in wire["calls"]},
            set(wire["escaped"]),
            list(wire["mail_problems"]),
            set(wire["ran"]),
        )


_RAN: set[str] = set()
_GATHERED = Records()
_DEFERRED: dict[str, tuple[str, int | None, str]] = {}  # after_all node id -> location, for the controller


def local() -> Records:
    """This process's records."""
    from patchcast_tools.local.strict_ses import accepted, audit

    recorder = iam_recorder.get()
    mail = [
        f"message {n} to {list(m.destinations)}: {p}"
        for n, m in enumerate(accepted())
        for p in audit(str(getattr(m, "raw_data", "")).encode("utf-8"))
    ]
    if recorder is None:
        return Records(mail_problems=mail, ran=set(_RAN))
    return Records({c: set(t) for c, t in recorder.tests.items()}, set(recorder.escaped), mail, set(_RAN))


@pytest.fixture
def session_records() -> Records:
    return local()


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _controller(config: pytest.Config) -> bool:
    return config.pluginmanager.getplugin("dsession") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``after_all`` tests run last; an xdist worker hands them to the controller."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)
    if _worker(config):
        _DEFERRED.update({i.nodeid: i.location for i in items if i.get_closest_marker("after_all")})
        items[:] = [i for i in items if i.nodeid not in _DEFERRED]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _RAN.add(item.nodeid)
    iam_recorder.current_test = item.nodeid
    try:
        return (yield)
    finally:
        iam_recorder.current_test = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _worker(session.config):
        session.config.workeroutput[_KEY] = {**local().to_wire(), "after_all": _DEFERRED}  # type: ignore[attr-defined]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    wire = getattr(node, "workeroutput", {}).get(_KEY)
    if wire is not None:
        _GATHERED.merge(Records.from_wire(wire))
        _DEFERRED.update({nodeid: tuple(loc) for nodeid, loc in wire["after_all"].items()})


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    result = yield
    if _controller(session.config):
        for nodeid, location in sorted(_DEFERRED.items()):
            _judge_here(session.config, nodeid, location)
    return result


def _judge_here(config: pytest.Config, nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Run one ``after_all`` test in the controller on every worker's records, reported as the workers' are."""
    path, _, name = nodeid.partition("::")
    test = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    config.hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
    start = time.time()
    outcome: Literal["passed", "failed"] = "passed"
    longrepr = None
    try:
        test(session_records=_GATHERED)
    except Exception as exc:  # noqa: BLE001 (any failure is the test's)
        outcome, longrepr = "failed", "".join(traceback.format_exception(exc))
    for when in ("setup", "call", "teardown"):
        report = pytest.TestReport(
            nodeid, location, {name: 1}, outcome if when == "call" else "passed", longrepr if when == "call" else None,
            when, duration=time.time() - start if when == "call" else 0.0, start=start, stop=time.time(),
        )  # fmt: skip
        config.hook.pytest_runtest_logreport(report=report)
    config.hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
