"""How the suite runs: shared between pytest-xdist's workers (``make test`` runs ``-n auto``), in an order
pytest-randomly shuffles per run, whose seed the summary prints.

A unit of work is a test file, so a module's fixtures (an e2e module's local stack) start once; all of
``tests/infra`` is one unit, as its files share one packaged template (``tests/infra/conftest.py``). Units that
start processes of their own (``tests/e2e``, ``tests/infra``) go first, longest known first, then the rest by
size: a long unit drawn last would leave the other worker idle at the end.
"""

from __future__ import annotations

from typing import Any

import pytest

SHARED_FIXTURES = ("tests/infra/",)  # folders whose files share a session fixture: one unit each
FIRST = ("tests/e2e/", "tests/infra/")  # units that start processes: the long ones


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in SHARED_FIXTURES if path.startswith(folder)), path)


def order(collection: list[str]) -> list[str]:
    """The collection as its units are handed out: those that start processes first, then by number of tests
    (the order within a unit kept)."""
    size: dict[str, int] = {}
    for nodeid in collection:
        size[unit_of(nodeid)] = size.get(unit_of(nodeid), 0) + 1
    return sorted(collection, key=lambda n: (not unit_of(n).startswith(FIRST), -size[unit_of(n)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def schedule(self) -> None:
            if self.collection is None and self.collection_is_completed:
                config.option.loadscopereorder = False  # the order below, not xdist's by size alone
                for node, collection in self.registered_collections.items():
                    self.registered_collections[node] = order(list(collection))
            super().schedule()

    return ByUnit(config, log)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and not hasattr(config, "workerinput"):
        terminalreporter.write_line(
            f"random order: seed {seed} (pytest --randomly-seed={seed} ... runs this order again)"
        )
