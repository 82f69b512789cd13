"""A pytest plugin for `make mutate` (setup.cfg loads it): a mutant of one module runs only that module's tests.

mutmut runs, for each mutant, every test of its selection that called the mutated function; a token or an
entitlement is called by nearly every app test, so that would be the whole suite per mutant. Here each
module's mutants keep only the tests that are about it: its unit and in-memory domain tests, which kill most
mutants in well under a second, and for some modules its app tests. mutmut names
the mutant in ``MUTANT_UNDER_TEST``; its other runs (stats, clean, forced failure) keep every test.
"""

from __future__ import annotations

import os
import re

import pytest

# Fan-out's planning is pure: its unit and in-memory tests pin it (the delivery fault tests are delivery's).
_FANOUT_PLAN = ("tests/unit/test_fanout_plan.py", "tests/domain/fanout/test_fanout.py")
_FANOUT = (*_FANOUT_PLAN, "tests/app/test_fanout_pages.py")
_RECALL = (
    "tests/unit/test_recall_plan.py",
    "tests/unit/test_recall_mail.py",
    "tests/domain/releases/test_recall.py",
    "tests/app/test_recall.py",
    "tests/app/test_fanout_pages.py::test_a_recall_page",
)
_DELIVERY = (
    "tests/unit/test_delivery_parts.py",
    "tests/domain/delivery/",
    "tests/unit/test_pacing.py",
    "tests/app/test_delivery_faults.py",
    "tests/app/test_delivery_rechecks.py",
)
SCOPE = {
    "access.tokens": ("tests/unit/test_tokens.py", "tests/app/test_key_rotation.py", "tests/app/test_downloads.py"),
    "core.entitlements": ("tests/unit/test_entitlements.py", "tests/unit/test_entitlement_decisions.py", "tests/unit/test_preferences.py",
                     "tests/unit/test_fanout_plan.py", "tests/app/test_release_flow.py"),
    "delivery.batch": _DELIVERY,
    "delivery.compose": _DELIVERY,
    "delivery.recheck": (*_DELIVERY, "tests/unit/test_preferences.py"),
    "delivery.reconcile": _DELIVERY,
    "delivery.send": _DELIVERY,
    "delivery.tally": _DELIVERY,
    "delivery.waits": _DELIVERY,
    "fanout.addresses": (*_FANOUT_PLAN, "tests/unit/test_recall_plan.py"),
    "fanout.contacts": (*_FANOUT_PLAN, "tests/unit/test_oncall_offer.py"),
    "fanout.pages": _FANOUT,
    "fanout.plan": _FANOUT_PLAN,
    "releases.recall": _RECALL,
    "downloads.clicks": ("tests/domain/downloads/test_downloads.py", "tests/domain/downloads/test_download_links.py", "tests/domain/downloads/test_fresh_links.py"),
    "downloads.fresh_links": ("tests/domain/downloads/test_downloads.py", "tests/domain/downloads/test_fresh_links.py"),
    "subscriptions.preregistration": ("tests/unit/test_preferences.py", "tests/unit/test_subscription_rules.py"),
}  # fmt: skip
_MUTANT = re.compile(r"^chalicelib\.domain\.(?P<module>\w+\.\w+)\.x[_ǁ]")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    match = _MUTANT.match(os.environ.get("MUTANT_UNDER_TEST", ""))
    if match is None or match.group("module") not in SCOPE:
        return
    scope = SCOPE[match.group("module")]
    keep = [i for i in items if i.nodeid.removeprefix("mutants/").startswith(scope)]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionstart(session: pytest.Session) -> None:
    """mutmut runs pytest several times in one process (stats, the clean run, then each mutant in a fork of
    it), and the session's moto server keeps its backends in the process: start each session from none."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
