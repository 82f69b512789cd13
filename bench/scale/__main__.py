"""``make scale``: the model of AWS running the real code (docs/delivery.md, "The model of AWS").

    python -m bench.scale [--n 1000000] [--rates 14,100,500] [--only release-500,recall-beta-500] [--jobs 2]

Writes ``bench/results/scale-<time>.json`` (``{"scenarios": [...]}``) and prints one line per scenario.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_PEOPLE: Any = None  # the population, made once before the workers fork (copy-on-write, not pickled)


def _run(scenario: Any) -> dict[str, Any]:
    from bench.scale import scenarios

    return scenarios.run(scenario, _PEOPLE)


def line(s: dict[str, Any]) -> str:
    sev = str(s["severity"])
    p50 = " ".join(f"{t} {v:g}" for t, v in s["p50_seconds"][sev].items())
    p99 = " ".join(f"{t} {v:g}" for t, v in s["p99_seconds"][sev].items())
    return (
        f"{s['name']:<22} emails {s['emails']:>8}  floor {s['floor_seconds']:>8.1f} s  last {s['last_email_seconds']:>8.1f} s"
        f" (target {s['target_seconds']:g})  dup {s['duplicates']} missing {s['missing']} beyond"
        f" {s['beyond_entitlement']}  throttles {s['throttles']}  p50 [{p50}] p99 [{p99}]"
        f"  req/email {s['requests_per_email']:g}  wall {s['wall_seconds']:g} s  targets "
        + " ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in s["targets_met"].items())
    )


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # before chalicelib makes its logger
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from bench.scale import population, scenarios

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("N", "1000000")), help="subscriptions (env N)")
    parser.add_argument("--rates", default=os.environ.get("RATES", "14,100,500"), help="MaxSendRates (env RATES)")
    parser.add_argument("--only", default=os.environ.get("ONLY", ""), help="scenario names, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")), help="scenarios at once")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r]
    chosen = [s for s in scenarios.standard(rates) if not args.only or s.name in args.only.split(",")]
    global _PEOPLE
    started = time.monotonic()
    _PEOPLE = population.make(args.n)
    print(f"population: {args.n} subscriptions, {len(_PEOPLE.accounts)} accounts in {time.monotonic() - started:.1f} s")
    results: list[dict[str, Any]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for result in pool.imap(_run, chosen):  # in order: each line as soon as it and those before are done
            results.append(result)
            print(line(result), flush=True)
            doc = {"n": args.n, "rates": rates, "wall_seconds": round(time.monotonic() - started, 1)}
            path.write_text(json.dumps({**doc, "scenarios": results}, indent=2) + "\n")  # after each one
    print(f"JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
