"""Download links against their targets: AWS requests per click (<= 3 before the redirect) and token
mint / verify throughput (>= 50,000 per second each, on one core).

``run()`` returns the figures (``bench.run`` collects them); ``python -m bench.downloads`` prints a table
and writes ``bench/results/downloads.json``. Requests are counted with a botocore ``before-send`` hook on
the session every client of the wiring comes from, so retries and cache misses count too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

MAX_REQUESTS = 3
MIN_TOKENS_PER_SECOND = 50_000
RESULTS = Path(__file__).resolve().parent / "results" / "downloads.json"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextlib.contextmanager
def _one_core() -> Iterator[None]:
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before:
        os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        if before:
            os.sched_setaffinity(0, before)


def _rate(fn: Any, n: int) -> float:
    best = 0.0
    for _ in range(3):  # best of three: the machine is shared, the code is not what varies
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def token_throughput(n: int = 100_000) -> dict[str, float]:
    from chalicelib.domain.access.tokens import KeyRing, Purpose, mint, verify

    ring = KeyRing(current="k2", keys={"k1": b"a" * 64, "k2": b"b" * 64})
    expires = int(time.time()) + 30 * 86400
    fields = {"account_id": "acct-0123456789", "subject": "sub-0123456789abcdef", "release_id": "rel-0123456789abcd"}
    token = mint(ring, Purpose.DOWNLOAD, expires=expires, **fields)
    with _one_core():
        minted = _rate(lambda: mint(ring, Purpose.DOWNLOAD, expires=expires, **fields), n)
        verified = _rate(lambda: verify(ring, token, Purpose.DOWNLOAD), n)
    return {"mint_per_s": round(minted), "verify_per_s": round(verified), "token_chars": len(token)}


@contextlib.contextmanager
def _local_aws() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from patchcast_tools.local import dynamodb_fidelity
    from patchcast_tools.local.stack import free_port

    dynamodb_fidelity.install()

    saved = {k: os.environ.get(k) for k in (*_ENV, "AWS_ENDPOINT_URL")}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update({**_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    try:
        yield os.environ["AWS_ENDPOINT_URL"]
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _settings() -> Any:
    from chalicelib.adapters.settings import Settings
    from chalicelib.names import ResourceNames

    return Settings(
        names=ResourceNames(stage="bench"),
        region="us-east-1",
        sender="alerts@patchcast.bench",
        public_base_url="https://patchcast.bench",
        jwt_issuer="bench",
        jwt_audience="bench",
        jwks_url="file:///dev/null",
        download_link_days=30,
        confirm_link_hours=72,
    )


def _seed(w: Any) -> str:
    """One entitled subscriber of one published release; returns its download token."""
    from chalicelib.domain.access.tokens import Purpose, mint
    from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
    from chalicelib.domain.core.states import ReleaseStatus, SubscriptionStatus

    w.table.put_account(Account("acct1", "Bench", "premium", ("M3",), date(2026, 1, 1), date(2099, 12, 31)))
    sub = Subscription(
        "acct1", "sub1", "ops@bench.example", ("M3",), ("patch",), 4, ("ga",), SubscriptionStatus.PENDING, now_iso()
    )
    w.table.put_pending_subscription(sub, expires_at=int(time.time()) + 3600)
    w.table.activate_subscription("acct1", "sub1", tier="premium")
    w.table.create_release(
        Release(
            release_id="rel1",
            product="M3",
            version="1.0",
            kind="patch",
            severity=2,
            channel="ga",
            title="Fix",
            summary="Fix",
            status=ReleaseStatus.PUBLISHED,
            created_at=now_iso(),
            created_by="bench",
            filename="fix.zip",
            size=3,
            sha256="-",
            object_key="uploads/rel1/fix.zip",
        )
    )
    w.client("s3").put_object(Bucket=w.blobs.bucket, Key="uploads/rel1/fix.zip", Body=b"zip")
    return mint(
        w.keys.ring(),
        Purpose.DOWNLOAD,
        account_id="acct1",
        subject="sub1",
        release_id="rel1",
        expires=int(time.time()) + 3600,
    )


def click_counts(token: str, settings: Any, warm_clicks: int = 30) -> dict[str, Any]:
    """A fresh container's first click (cold key cache), then warm clicks, through the real route."""
    from chalice.test import Client

    import app as app_module
    from chalicelib.adapters import wiring
    from chalicelib.observability import logger

    logger.setLevel("WARNING")  # one log line per click would swamp the table
    w = wiring.Wiring(settings)
    sent: list[str] = []
    w._session.events.register("before-send", lambda request, **_: sent.append(_operation(request)))
    previous = wiring._current
    wiring.use(w)
    try:
        with Client(app_module.app, stage_name="local") as client:
            cold = client.http.get(f"/d/{token}")
            cold_ops = list(sent)
            timings = []
            for _ in range(warm_clicks):
                sent.clear()
                start = time.perf_counter()
                warm = client.http.get(f"/d/{token}")
                timings.append((time.perf_counter() - start) * 1000)
            assert cold.status_code == 302 and warm.status_code == 302, (cold.status_code, warm.status_code)
            return {
                "cold_requests": len(cold_ops),
                "cold_operations": dict(Counter(cold_ops)),
                "warm_requests": len(sent),
                "warm_operations": dict(Counter(sent)),
                "warm_click_ms_median": round(statistics.median(timings), 2),
            }
    finally:
        wiring.use(previous)


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.decode() if isinstance(target, bytes) else str(target)
    return f"{request.method} {request.url.split('?')[0].rsplit('/', 1)[-1] or '/'}"


def run() -> dict[str, Any]:
    import boto3

    from chalicelib.adapters import wiring
    from patchcast_tools.local.provision import provision

    tokens = token_throughput()
    with _local_aws():
        provision("bench", sender="alerts@patchcast.bench", session=boto3.session.Session(region_name="us-east-1"))
        seeder = wiring.Wiring(_settings())
        token = _seed(seeder)
        clicks = click_counts(token, _settings())
    return {
        "tokens": tokens,
        "click": clicks,
        "targets": {
            "requests_before_redirect": {
                "limit": MAX_REQUESTS,
                "worst": clicks["cold_requests"],
                "met": clicks["cold_requests"] <= MAX_REQUESTS,
            },
            "mint_per_s": {"limit": MIN_TOKENS_PER_SECOND, "met": tokens["mint_per_s"] >= MIN_TOKENS_PER_SECOND},
            "verify_per_s": {"limit": MIN_TOKENS_PER_SECOND, "met": tokens["verify_per_s"] >= MIN_TOKENS_PER_SECOND},
        },
    }


def main() -> None:
    result = run()
    t, c = result["tokens"], result["click"]
    rows = [
        ("AWS requests, first click (cold key cache)", c["cold_requests"], f"<= {MAX_REQUESTS}"),
        ("AWS requests, warm click", c["warm_requests"], f"<= {MAX_REQUESTS}"),
        ("token mint per second (one core)", t["mint_per_s"], f">= {MIN_TOKENS_PER_SECOND}"),
        ("token verify per second (one core)", t["verify_per_s"], f">= {MIN_TOKENS_PER_SECOND}"),
        ("warm click, median ms (local moto)", c["warm_click_ms_median"], "-"),
    ]
    print(f"{'measure':<46} {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<46} {value:>10}  {target}")
    print("cold click operations:", ", ".join(f"{k} x{v}" for k, v in c["cold_operations"].items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
