"""The share of mutants killed per module and overall, from the results `mutmut run` left in mutants/.

`make mutate` prints it after a run; docs/contributing.md keeps the figures and what survives.
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


def shares(rows: list[tuple[str, str]], modules: list[str]) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in rows:
        match = _NAME.match(name)
        module = match.group("module").removeprefix("chalicelib.domain.") if match else name
        if not modules or module in modules:
            by_module[module][status] += 1
    return dict(by_module)


def report(by_module: dict[str, Counter[str]]) -> tuple[str, float]:
    lines, caught_all, run_all = [], 0, 0
    for module, counts in sorted(by_module.items()):
        run = sum(n for s, n in counts.items() if s not in NOT_RUN)
        caught = sum(counts[s] for s in CAUGHT)
        caught_all, run_all = caught_all + caught, run_all + run
        share = caught / run if run else 0.0
        rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in CAUGHT)
        lines.append(f"{module:<14} {caught:>5}/{run:<5} killed {share:6.1%}  {rest}")
    overall = caught_all / run_all if run_all else 0.0
    lines.append(f"{'overall':<14} {caught_all:>5}/{run_all:<5} killed {overall:6.1%}  (target {TARGET:.0%})")
    return "\n".join(lines), overall


def main(argv: list[str]) -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    text, _overall = report(shares(results(mutmut), argv))
    print(text)
    return 0  # the target is the report's to carry, not a gate


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
