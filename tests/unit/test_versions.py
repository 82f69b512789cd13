"""Version lines: dotted-prefix matching, and the bad input each field refuses (naming it)."""

from __future__ import annotations

import pytest

from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.versions import covers, installed, lines, meets


def test_a_line_covers_itself_and_what_is_below_it_as_a_dotted_prefix() -> None:
    assert covers("13.4", "13.4") and covers("13.4", "13.4.2") and covers("13", "13.4.2")
    assert not covers("13.4", "13.40") and not covers("13.4", "13.5") and not covers("13.4.2", "13.4")


@pytest.mark.parametrize(
    ("applies_to", "runs", "told"),
    [
        (None, ["13.5"], True),  # a release for every line
        (("13.4",), None, True),  # a contact who did not say
        (("13.4",), ["13.4"], True),
        (("13.4",), ["13.4.2"], True),
        (("13.4.2",), ["13.4"], True),  # may run 13.4.2: told rather than missed
        (("13.4",), ["13.5"], False),
        (("13.4",), ["13.40"], False),
        (("13.4", "13.5"), ["12.1", "13.5"], True),
    ],
)
def test_a_release_meets_a_contact_where_their_lines_meet(
    applies_to: tuple[str, ...] | None, runs: list[str] | None, told: bool
) -> None:
    assert meets(applies_to, runs) is told


def test_lines_come_back_in_numeric_order_each_once() -> None:
    assert lines(["13.10", "13.4", "13.4", "9"], "applies_to") == ("9", "13.4", "13.10")


@pytest.mark.parametrize(
    "value",
    [
        [],
        [""],
        ["  "],
        ["thirteen"],
        ["13-4"],
        ["13.4."],
        [".4"],
        ["13.x"],
        [13.4],
        "13.4",
        [str(n) for n in range(21)],
    ],  # fmt: skip
)
def test_bad_lines_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(BadRequest) as err:
        lines(value, "applies_to")
    assert "'applies_to'" in err.value.message


def test_installed_names_only_contract_products_and_checks_each_products_lines() -> None:
    assert installed({"M3": ["13.4"]}, ["M3", "XA"]) == {"M3": ("13.4",)}
    with pytest.raises(BadRequest) as err:
        installed({"ZZ": ["13.4"]}, ["M3"])
    assert "'installed'" in err.value.message and "ZZ" in err.value.message and err.value.code == "unknown_product"
    with pytest.raises(BadRequest) as err:
        installed({"M3": ["x"]}, ["M3"])
    assert "'installed.M3'" in err.value.message
    for bad in ({}, [], "M3"):
        with pytest.raises(BadRequest):
            installed(bad, ["M3"])


def test_patchctl_takes_applies_to_comma_separated_or_repeated() -> None:
    from patchcast_tools.cli import build_parser
    from patchcast_tools.cli.releases import _body

    base = [
        "release",
        "create",
        "--product",
        "M3",
        "--version",
        "13.4.7",
        "--kind",
        "patch",
        "--severity",
        "2",
        "--title",
        "t",
        "--file",
        "f.zip",
    ]
    args = build_parser().parse_args([*base, "--applies-to", "13.4,13.5", "--applies-to", "14"])
    assert _body(args)["applies_to"] == ["13.4", "13.5", "14"]
    assert "applies_to" not in _body(build_parser().parse_args(base))
    edit = build_parser().parse_args(["release", "edit", "abc", "--all-versions"])
    assert edit.all_versions and not edit.applies_to


def test_a_subscription_wants_a_release_only_where_its_lines_meet() -> None:
    from chalicelib.domain.core.models import Subscription

    sub = Subscription(
        "a", "s", "x@customer.example", ("M3", "XA"), ("patch",), 4, ("ga",), "active", "t", installed={"M3": ("13.5",)}
    )
    common = {"kind": "patch", "severity": 2, "channel": "ga"}
    assert not sub.wants(product="M3", applies_to=("13.4",), **common)
    assert sub.wants(product="M3", applies_to=("13.5",), **common) and sub.wants(product="M3", **common)
    assert sub.wants(product="XA", applies_to=("13.4",), **common)  # no lines given for XA: every line
