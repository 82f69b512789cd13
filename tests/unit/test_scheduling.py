"""How xdist's workers share the suite (``tests/scheduling.py``): whole files, tests/infra as one unit, the units
that start processes first."""

from __future__ import annotations

from tests.scheduling import order, unit_of


def test_a_unit_is_a_file_but_tests_infra_is_one() -> None:
    assert unit_of("tests/app/test_recall.py::test_x[1]") == "tests/app/test_recall.py"
    assert unit_of("tests/infra/test_scan.py::test_y") == unit_of("tests/infra/test_package.py::test_z")


def test_process_starting_units_go_first_then_the_larger_and_each_unit_stays_together_in_its_order() -> None:
    collection = [
        "tests/unit/test_a.py::t1",
        "tests/app/test_b.py::t2",
        "tests/app/test_b.py::t1",
        "tests/infra/test_scan.py::t",
        "tests/e2e/test_c.py::t",
        "tests/infra/test_package.py::t",
    ]
    assert order(collection) == [
        "tests/infra/test_scan.py::t",
        "tests/infra/test_package.py::t",
        "tests/e2e/test_c.py::t",
        "tests/app/test_b.py::t2",
        "tests/app/test_b.py::t1",
        "tests/unit/test_a.py::t1",
    ]
