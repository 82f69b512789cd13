"""A pytest plugin for `make mutate` (setup.cfg loads it): a mutant of one package runs only that package's tests.

mutmut runs, for each mutant, every test of its selection that called the mutated function; a token or an
entitlement is called by nearly every app test, so that would be the whole suite per mutant. Here each
package's mutants keep only the tests that are about it (``SCOPE``, keyed by package, or by
``package.module`` where one module needs other tests than its package): its unit and in-memory domain
tests, which kill most mutants in well under a second, and the app tests of what only moto exercises.
mutmut names the mutant in ``MUTANT_UNDER_TEST``.

Its other runs (listing the tests, stats, the clean run) keep the tests of the packages ``make mutate``
names in ``MUTATE`` (every test when it is unset): a run of one package then traces and runs its own tests,
not the whole selection.
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
_DOWNLOADS = ("tests/domain/downloads/",)
SCOPE = {
    # -- by package ---------------------------------------------------------------------------------------
    "access": ("tests/unit/test_tokens.py", "tests/unit/test_subscription_rules.py", "tests/app/test_identity.py",
               "tests/app/test_key_rotation.py", "tests/app/test_downloads.py"),
    "accounts": ("tests/unit/test_review_periods.py", "tests/unit/test_review_mail.py", "tests/unit/test_identity_checks.py",
                 "tests/app/test_contracts.py", "tests/app/test_accounts_admin.py", "tests/app/test_reviews.py",
                 "tests/app/test_support_warnings.py"),
    "announcements": ("tests/unit/test_invites.py", "tests/app/test_announcements.py", "tests/app/test_announce_cli.py"),
    "core": ("tests/unit/test_entitlements.py", "tests/unit/test_entitlement_decisions.py", "tests/unit/test_oncall_offer.py",
             "tests/unit/test_preferences.py", "tests/unit/test_messages.py", "tests/unit/test_validation.py",
             "tests/unit/test_text.py", "tests/unit/test_versions.py", "tests/unit/test_fanout_plan.py",
             "tests/app/test_input.py"),
    "delivery": _DELIVERY,
    "digests": ("tests/unit/test_digests.py", "tests/unit/test_digest_settle.py", "tests/app/test_digests.py",
                "tests/app/test_digest_records.py"),
    "downloads": (*_DOWNLOADS, "tests/app/test_downloads.py"),
    "fanout": _FANOUT,
    "mail": ("tests/unit/test_mail.py", "tests/unit/test_recall_mail.py", "tests/unit/test_pacing.py",
             "tests/unit/test_release_publishing.py", "tests/unit/test_review_mail.py"),
    "releases": ("tests/domain/releases/", "tests/unit/test_cli_uploads.py", "tests/unit/test_release_publishing.py",
                 "tests/unit/test_identity_checks.py", "tests/app/test_release_editing.py",
                 "tests/app/test_audience_preview.py", "tests/app/test_version_targeting.py",
                 "tests/app/test_release_publishing.py", "tests/app/test_upload_faults.py"),
    "reports": ("tests/unit/test_report_histogram.py", "tests/unit/test_report_page.py", "tests/unit/test_delivery_parts.py",
                "tests/app/test_reports.py", "tests/app/test_report_page.py"),
    "subscriptions": ("tests/unit/test_subscription_rules.py", "tests/unit/test_preferences.py",
                      "tests/unit/test_confirm_limits.py", "tests/unit/test_feedback_kinds.py",
                      "tests/app/test_subscriptions.py", "tests/app/test_feedback.py",
                      "tests/app/test_confirmation_limits.py", "tests/app/test_suppression_lifting.py"),
    # -- modules whose tests are not their package's (or a few of them: their unit tests pin them) ------------
    "announcements.invites": ("tests/unit/test_invites.py",),
    "releases.uploads": ("tests/domain/releases/test_uploads.py", "tests/unit/test_identity_checks.py"),
    "reports.page": ("tests/unit/test_report_page.py",),
    "reports.release_report": ("tests/unit/test_report_histogram.py", "tests/unit/test_delivery_parts.py",
                               "tests/app/test_reports.py"),
    "subscriptions.feedback": ("tests/unit/test_feedback_kinds.py",),
    "access.tokens": ("tests/unit/test_tokens.py", "tests/app/test_key_rotation.py", "tests/app/test_downloads.py"),
    "core.entitlements": ("tests/unit/test_entitlements.py", "tests/unit/test_entitlement_decisions.py", "tests/unit/test_preferences.py",
                     "tests/unit/test_fanout_plan.py", "tests/app/test_release_flow.py"),
    "delivery.recheck": (*_DELIVERY, "tests/unit/test_preferences.py"),
    "fanout.addresses": (*_FANOUT_PLAN, "tests/unit/test_recall_plan.py"),
    "fanout.contacts": (*_FANOUT_PLAN, "tests/unit/test_oncall_offer.py"),
    "fanout.plan": _FANOUT_PLAN,
    "releases.recall": _RECALL,
    "downloads.clicks": _DOWNLOADS,
    "downloads.fresh_links": _DOWNLOADS,
    "subscriptions.preregistration": ("tests/unit/test_preferences.py", "tests/unit/test_subscription_rules.py"),
}  # fmt: skip
_MUTANT = re.compile(r"^chalicelib\.domain\.(?P<package>\w+)\.(?P<module>\w+)\.x[_ǁ]")
# mutmut's runs that are not a mutant's: what they keep is what MUTATE names
_OWN_RUNS = ("", "stats", "list_all_tests")


def scope(package: str, module: str) -> tuple[str, ...]:
    """The tests a mutant of ``package.module`` runs: the module's own entry, else its package's."""
    return SCOPE.get(f"{package}.{module}") or SCOPE.get(package, ())


def _named(mutate: str) -> tuple[str, ...]:
    """Every test path of the packages (``downloads``) and modules (``delivery.send``) ``MUTATE`` names."""
    paths: list[str] = []
    for name in mutate.split():
        package, _, module = name.partition(".")
        if module:  # a module: its own entry, else its package's
            paths += scope(package, module)
        else:  # a package: its entry and its modules' own entries
            paths += [p for k in SCOPE if k.split(".")[0] == package for p in SCOPE[k]]
    return tuple(dict.fromkeys(paths))


def _kept(under_test: str) -> tuple[str, ...] | None:
    match = _MUTANT.match(under_test)
    if match is not None:
        return scope(match.group("package"), match.group("module")) or None
    mutate = os.environ.get("MUTATE", "")
    if under_test in _OWN_RUNS and mutate.strip():
        return _named(mutate) or None
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep_paths = _kept(os.environ.get("MUTANT_UNDER_TEST", ""))
    if keep_paths is None:
        return
    keep = [i for i in items if i.nodeid.removeprefix("mutants/").startswith(keep_paths)]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionstart(session: pytest.Session) -> None:
    """mutmut runs pytest several times in one process (stats, the clean run, then each mutant in a fork of
    it), and the session's moto server keeps its backends in the process: start each session from none."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
