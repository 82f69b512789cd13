"""The share of mutants killed per domain package (and per module within it) and overall, from the results
`mutmut run` left in mutants/.

`make mutate` prints it after a run, for the packages (``downloads``) or modules (``delivery.send``) it ran;
docs/contributing.md keeps the figures and what survives.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

TARGET = 0.90
# mutmut's statuses that count as caught; "survived", "no tests", "suspicious" and "segfault" do not, and
# "not checked" / "skipped" (not run) are left out of the share.
CAUGHT = {"killed", "timeout", "caught by type check"}
NOT_RUN = {"not checked", "skipped"}
_NAME = re.compile(r"^(?P<module>[\w.]+?)\.x[_ǁ]")


def results(mutmut: str) -> list[tuple[str, str]]:
    """(mutant name, status) for every mutant mutmut generated."""
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and _NAME.match(name):
            rows.append((name, status))
    return rows


def _selected(module: str, names: list[str]) -> bool:
    """``module`` (``delivery.send``) is one the run named, by itself or by its package (``delivery``)."""
    return not names or any(module == n or module.startswith(f"{n}.") for n in names)


def shares(rows: list[tuple[str, str]], names: list[str]) -> dict[str, Counter[str]]:
    """Statuses per module (``package.module``) of the packages or modules named (every one when none is)."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in rows:
        match = _NAME.match(name)
        module = match.group("module").removeprefix("chalicelib.domain.") if match else name
        if _selected(module, names):
            by_module[module][status] += 1
    return dict(by_module)


def by_package(by_module: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    packages: dict[str, Counter[str]] = defaultdict(Counter)
    for module, counts in by_module.items():
        packages[module.split(".")[0]].update(counts)
    return dict(packages)


def _line(label: str, counts: Counter[str]) -> tuple[str, int, int]:
    run = sum(n for s, n in counts.items() if s not in NOT_RUN)
    caught = sum(counts[s] for s in CAUGHT)
    share = caught / run if run else 0.0
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in CAUGHT)
    return f"{label:<32} {caught:>5}/{run:<5} killed {share:6.1%}  {rest}".rstrip(), caught, run


def report(by_module: dict[str, Counter[str]]) -> tuple[str, float]:
    """A line per package, its modules' lines under it, and the overall share."""
    lines, caught_all, run_all = [], 0, 0
    for package, counts in sorted(by_package(by_module).items()):
        text, caught, run = _line(package, counts)
        caught_all, run_all = caught_all + caught, run_all + run
        lines.append(text)
        for module in sorted(m for m in by_module if m.split(".")[0] == package):
            lines.append(_line(f"  {module}", by_module[module])[0])
    overall = caught_all / run_all if run_all else 0.0
    lines.append(f"{'overall':<32} {caught_all:>5}/{run_all:<5} killed {overall:6.1%}  (target {TARGET:.0%})")
    return "\n".join(lines), overall


def main(argv: list[str]) -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    text, _overall = report(shares(results(mutmut), argv))
    print(text)
    return 0  # the target is the report's to carry, not a gate


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
