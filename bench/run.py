"""``make bench``: fan-out and delivery of one release to a synthetic population on the local stack,
side by side with the local SES ceiling and a naive baseline, plus cold start; table and JSON.

    python -m bench.run [--n 10000] [--concurrency 2] [--rounds 3] [--out bench/results]

The pipeline and the bare-SES ceiling run in rounds, each measurement on a local AWS started afresh with a
state directory of its own (the machine's speed drifts by 10-20 % between runs, and a local AWS that has
just served a pipeline makes the ceiling dearer); the CPU ratio reported is the median round's, with every
round's beside it.

Requests per email are counted with botocore ``before-send`` hooks on the clients the handlers use
(the wiring's), so the runner's own polling is not in them, retries are.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chalicelib.adapters.queues import Queues

ROOT = Path(__file__).resolve().parents[1]


class Accepted:
    """Every address SES accepted through the app's mailer, and when the last one was accepted."""

    def __init__(self) -> None:
        self.by_address: Counter[str] = Counter()
        self.last = 0.0
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Accepted]:
        """Count what the mailer sends while inside; the mailer is as it was after (a later round counts anew)."""
        from chalicelib.adapters.mailer import Mailer

        original = Mailer.send_raw
        accepted = self

        def send_raw(mailer: Mailer, to: str, raw: bytes) -> str:
            message_id = original(mailer, to, raw)
            with accepted.lock:
                accepted.by_address[to] += 1
                accepted.last = time.monotonic()
            return message_id

        Mailer.send_raw = send_raw  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            Mailer.send_raw = original  # type: ignore[method-assign]

    @property
    def total(self) -> int:
        return sum(self.by_address.values())


class RequestCounter:
    """HTTP requests (retries included) and seconds spent per operation, from botocore's events."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def hooked(self, *clients: Any) -> Iterator[RequestCounter]:
        """Count these clients' requests while inside; their hooks are gone after."""
        hooks = (("before-send", self._count), ("before-call", self._start), ("after-call", self._stop))
        for client in clients:
            for event, handler in hooks:
                client.meta.events.register(event, handler)
        try:
            yield self
        finally:
            for client in clients:
                for event, handler in hooks:
                    client.meta.events.unregister(event, handler)

    def _count(self, event_name: str, **_: Any) -> None:
        with self.lock:
            self.calls[event_name.removeprefix("before-send.")] += 1

    def _start(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_t0"] = time.perf_counter()

    def _stop(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        if "bench_t0" in context:
            with self.lock:
                self.seconds[event_name.removeprefix("after-call.")] += time.perf_counter() - context["bench_t0"]


class CpuMeter:
    """CPU seconds used by this process (the handlers, or the baseline's client) and by the local AWS
    processes since it was made: where a run's time goes, per email (Linux ``/proc``)."""

    def __init__(self, aws_pids: list[int]) -> None:
        self.aws_pids = aws_pids
        self.start_at = self._now()

    def _now(self) -> tuple[float, float]:
        own, aws = os.times(), 0.0
        for pid in self.aws_pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                aws += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
            except (OSError, ValueError, IndexError):
                aws = float("nan")
        return own.user + own.system, aws

    def per_email(self, emails: int) -> dict[str, float]:
        (own0, aws0), (own1, aws1) = self.start_at, self._now()
        n = max(emails, 1)
        return {
            "client_cpu_ms_per_email": round((own1 - own0) * 1000 / n, 2),
            "local_aws_cpu_ms_per_email": round((aws1 - aws0) * 1000 / n, 2),
        }


class Stub(Queues):
    """Queues that keep what a probe invocation would enqueue instead of sending it."""

    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[Mapping[str, Any]] = []

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        self.sent.extend(bodies)


def _peak(fn: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _release(table: Any, product: str, status: str) -> str:
    from chalicelib.domain.core.models import Release, now_iso
    from chalicelib.domain.core.states import ReleaseStatus

    release_id = uuid.uuid4().hex[:16]
    table.create_release(
        Release(
            release_id,
            product,
            f"1.{release_id[:6]}",
            "patch",
            2,
            "ga",
            "Bench fix",
            "Fixes the benchmark",
            ReleaseStatus(status),
            now_iso(),
            "bench",
        )
    )
    return release_id


def _queues_empty(sqs: Any, urls: list[str]) -> bool:
    attrs = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    return all(
        all(int(v) == 0 for v in sqs.get_queue_attributes(QueueUrl=u, AttributeNames=attrs)["Attributes"].values())
        for u in urls
    )


def probe_peaks(w: Any, loader: Any, product: str) -> tuple[int, int, dict[str, Any]]:
    """Peak Python heap of one fan-out and one delivery invocation of a fresh release, each alone."""
    from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
    from chalicelib.domain.delivery import batch as delivery
    from chalicelib.domain.fanout import pages as fanout
    from chalicelib.routes import link_maker

    # One fan-out and one delivery invocation of a second release, alone, under tracemalloc.
    probe = _release(loader, product, "published")
    stub = Stub()
    _, fanout_peak = _peak(lambda: fanout.run(w.table, stub, FanoutPage(probe)))
    deps = delivery.Deps(
        table=w.table, mailer=w.mailer, queues=w.queues, urls=link_maker(), link_days=30, quota=w.quota
    )
    batch = DeliveryBatch.from_json(next(m for m in stub.sent if "recipients" in m))
    counts, delivery_peak = _peak(lambda: delivery.run(deps, batch))
    return fanout_peak, delivery_peak, counts


def memory_only(n: int, session: Any) -> dict[str, Any]:
    """Load ``n`` subscribers and measure only the two invocations' peak heap (no full send): the check
    that memory is flat in N, cheap enough for N = 100,000 where a full local run takes hours (moto's
    Query walks the whole index for every page)."""
    from bench import population as pop
    from chalicelib.adapters import wiring
    from chalicelib.adapters.store import Table
    from chalicelib.names import ResourceNames

    people = pop.make(n, f"M{uuid.uuid4().hex[:6]}")
    loader = Table(session.client("dynamodb"), ResourceNames("local").table)
    pop.load(loader, people)
    probe_peaks(wiring.get(), loader, people.product)  # warm-up: first imports and clients, as in a warm container
    fanout_peak, delivery_peak, _ = probe_peaks(wiring.get(), loader, people.product)
    return {
        "subscribers": n,
        "peak_kib_fanout_invocation": fanout_peak // 1024,
        "peak_kib_delivery_invocation": delivery_peak // 1024,
    }


def pipeline(n: int, concurrency: int, session: Any, aws_pids: list[int]) -> dict[str, Any]:
    import app as app_module
    from bench import population as pop
    from chalicelib.adapters import wiring
    from chalicelib.adapters.queues import Queues
    from chalicelib.adapters.store import Table
    from chalicelib.domain.releases import publishing
    from chalicelib.names import ResourceNames
    from patchcast_tools.local.runner import Runner

    names = ResourceNames("local")
    w = wiring.get()
    people = pop.make(n, f"B{uuid.uuid4().hex[:6]}")
    loader = Table(session.client("dynamodb"), names.table)
    started = time.monotonic()
    pop.load(loader, people)
    load_s = time.monotonic() - started

    accepted, counter = Accepted(), RequestCounter()
    runner = Runner(app_module.app, session, concurrency=concurrency, schedule_seconds=3600)
    sqs = session.client("sqs")
    urls = [sqs.get_queue_url(QueueName=q)["QueueUrl"] for q in (names.fanout_queue, names.deliver_queue)]
    # the handlers' clients, made once per container; the probes below are not counted
    with accepted.installed(), counter.hooked(w.table._db, w.queues._sqs, w.mailer._ses):
        runner.start()
        try:
            release_id = _release(loader, people.product, "available")
            t0, cpu = time.monotonic(), CpuMeter(aws_pids)
            publishing.publish(loader, Queues(sqs, names), release_id)
            deadline = t0 + 120 + n / 20
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if accepted.total >= len(people.eligible) and _queues_empty(sqs, urls):
                    break
            elapsed = accepted.last - t0
            cpu_use = cpu.per_email(accepted.total)
        finally:
            runner.close()

    emails = accepted.total
    duplicates = sum(1 for a in people.eligible if accepted.by_address[a] > 1)
    missing = sum(1 for a in people.eligible if accepted.by_address[a] == 0)
    ineligible = sum(1 for a, c in accepted.by_address.items() if c and a not in people.eligible)
    requests = sum(counter.calls.values())
    by_operation = dict(counter.calls.most_common())
    seconds_by_operation = {k: round(v, 1) for k, v in counter.seconds.most_common()}

    fanout_peak, delivery_peak, counts = probe_peaks(w, loader, people.product)
    return {
        "subscribers": n,
        "eligible": len(people.eligible),
        "load_seconds": round(load_s, 2),
        "seconds": round(elapsed, 2),
        "emails": emails,
        "emails_per_second": round(emails / elapsed, 1) if elapsed > 0 else 0.0,
        "aws_requests": requests,
        "requests_per_email": round(requests / max(emails, 1), 4),
        "requests_by_operation": by_operation,
        "seconds_by_operation": seconds_by_operation,
        **cpu_use,
        "handler_invocations": runner.stats.invocations,
        "handler_failures": runner.stats.failures,
        "duplicates": duplicates,
        "missing": missing,
        "ineligible_emailed": ineligible,
        "peak_kib_fanout_invocation": fanout_peak // 1024,
        "peak_kib_delivery_invocation": delivery_peak // 1024,
        "probe_delivery_window_ms": counts.get("window_ms"),
        "product": people.product,
    }


def _sample_raw(sender: str) -> bytes:
    from datetime import UTC, datetime

    from chalicelib.domain.core.models import Release, now_iso
    from chalicelib.domain.core.states import ReleaseStatus
    from chalicelib.domain.mail import notices as mail

    rel = Release(
        "r", "P", "1", "patch", 2, "ga", "Bench fix", "Fixes the benchmark", ReleaseStatus.PUBLISHED, now_iso(), "b"
    )
    links = mail.Links(
        download="https://x.example/d/" + "t" * 120,
        unsubscribe="https://x.example/u/" + "t" * 120,
        expires=datetime.now(UTC),
    )
    return mail.release_notice(sender=sender, to="ceiling@bench.example", release=rel, links=links)


def ceiling(session: Any, sender: str, threads: int, count: int, aws_pids: list[int]) -> dict[str, Any]:
    """Bare concurrent SESv2 SendEmail (Raw) with the same number of sending threads: the local limit."""
    from botocore.config import Config

    ses = session.client("sesv2", config=Config(max_pool_connections=threads * 2, retries={"max_attempts": 1}))
    raw = _sample_raw(sender)

    def send(i: int) -> None:
        ses.send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [f"c{i}@bench.example"]},
            Content={"Raw": {"Data": raw}},
        )

    t0, cpu = time.monotonic(), CpuMeter(aws_pids)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(count)))
    elapsed = time.monotonic() - t0
    return {
        **cpu.per_email(count),
        "threads": threads,
        "emails": count,
        "seconds": round(elapsed, 2),
        "emails_per_second": round(count / elapsed, 1),
    }


def naive(session: Any, table_name: str, product: str, sender: str, limit: int, aws_pids: list[int]) -> dict[str, Any]:
    """The obvious way: Scan for the audience, then per recipient one SendEmail and one PutItem, in turn."""
    from datetime import UTC, datetime

    from chalicelib.domain.core.models import Release, now_iso
    from chalicelib.domain.core.states import ReleaseStatus
    from chalicelib.domain.mail import notices as mail

    db, ses = session.client("dynamodb"), session.client("sesv2")
    rel = Release(
        "naive",
        product,
        "1",
        "patch",
        2,
        "ga",
        "Bench fix",
        "Fixes the benchmark",
        ReleaseStatus.PUBLISHED,
        now_iso(),
        "b",
    )
    t0 = time.monotonic()
    requests, audience = 0, list[dict[str, Any]]()
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "GSI1PK = :p",
        "ExpressionAttributeValues": {":p": {"S": f"AUDIENCE#{product}"}},
    }
    while len(audience) < limit:
        page = db.scan(**kwargs)
        requests += 1
        audience += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    scan_s = time.monotonic() - t0
    t1, cpu = time.monotonic(), CpuMeter(aws_pids)
    for item in audience[:limit]:
        to = item["email"]["S"]
        links = mail.Links(download=None, unsubscribe="https://x.example/u", expires=datetime.now(UTC))
        raw = mail.release_notice(sender=sender, to=to, release=rel, links=links)
        ses.send_email(
            FromEmailAddress=sender, Destination={"ToAddresses": [f"naive.{to}"]}, Content={"Raw": {"Data": raw}}
        )
        db.put_item(TableName=table_name, Item={"PK": {"S": "NAIVE#bench"}, "SK": {"S": to}})
        requests += 2
    sent = min(limit, len(audience))
    send_s = time.monotonic() - t1
    return {
        **cpu.per_email(sent),
        "emails": sent,
        "scan_seconds": round(scan_s, 2),
        "send_seconds": round(send_s, 2),
        "emails_per_second": round(sent / send_s, 1) if send_s else 0.0,
        "requests_per_email": round(requests / max(sent, 1), 3),
    }


# What a function has imported by its first AWS call, beyond ``app``: an API route's (the table adapter,
# hence boto3) and the heaviest one's, delivery (table, SES, SQS, MIME, Powertools metrics).
FIRST_CALL = {
    "api_route": "app, chalicelib.adapters.store",
    "delivery": "app, chalicelib.adapters.store, chalicelib.adapters.mailer, chalicelib.adapters.queues, chalicelib.domain.delivery.batch, "
    "chalicelib.observability",
}


def cold_start(repeat: int = 5) -> dict[str, Any]:
    """Milliseconds to import ``app`` vs ``boto3`` alone, each in a fresh interpreter (median of ``repeat``);
    beside them what a function has imported by its first AWS call (``app`` itself loads neither boto3 nor
    a domain module: the routes import theirs when they run)."""
    env = {**os.environ, "PATCHCAST_STAGE": "local"}

    def measure(modules: str) -> float:
        code = f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(repeat)
        ]
        return statistics.median(runs) * 1000

    app_ms, boto_ms = measure("app"), measure("boto3")
    first = {name: measure(modules) for name, modules in FIRST_CALL.items()}
    return {
        "import_app_ms": round(app_ms, 1),
        "import_boto3_ms": round(boto_ms, 1),
        "ratio": round(app_ms / boto_ms, 2),
        "first_aws_call_ms": {k: round(v, 1) for k, v in first.items()},
        "first_aws_call_ratio": {k: round(v / boto_ms, 2) for k, v in first.items()},
    }


def extras() -> dict[str, Any]:
    """The token and download figures of ``bench/downloads.py``, when that benchmark is present."""
    if importlib.util.find_spec("bench.downloads") is None:
        return {}
    from bench import downloads  # type: ignore[attr-defined]

    return {"downloads": downloads.run()}


def afresh(stack: Any) -> Any:
    """Stop ``stack`` and start another on the same ports (the handlers' clients keep their endpoints) with a
    state directory of its own (its outbox empty); the old one's is removed."""
    from patchcast_tools.local.stack import LocalStack

    stack.stop()
    shutil.rmtree(stack.state_dir, ignore_errors=True)
    ports = ("api_port", "aws_port", "outbox_port", "dynamodb_port")
    fresh = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="patchcast-bench-")), **{k: getattr(stack, k) for k in ports}
    )
    fresh.start(seed=False, api=False, events=False)
    return fresh


CPU_PARTS = ("local_aws_cpu_ms_per_email", "client_cpu_ms_per_email")


def round_of(p: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
    """One round's pipeline against its ceiling: what the report's median and spread are made of."""
    return {
        "pipeline_cpu_ms_per_email": round(cpu(p), 2),
        "ceiling_cpu_ms_per_email": round(cpu(c), 2),
        "cpu_ratio": round(cpu(p) / cpu(c), 3) if cpu(c) else 0.0,
        **{f"{name}_{k}": r[k] for name, r in (("pipeline", p), ("ceiling", c)) for k in CPU_PARTS},
        "emails_per_second": p["emails_per_second"],
        "ceiling_emails_per_second": c["emails_per_second"],
        "requests_per_email": p["requests_per_email"],
        **{k: p[k] for k in ("emails", "eligible", "duplicates", "missing", "ineligible_emailed")},
    }


def cpu(run: dict[str, Any]) -> float:
    """CPU ms per email of a run, the local AWS's and the client's together: where an email's cost goes."""
    return sum(float(run[k]) for k in CPU_PARTS)


def report(result: dict[str, Any]) -> str:
    from bench import digests as bench_digests

    p, c, nv, cs = result["pipeline"], result["ceiling"], result["naive"], result["cold_start"]
    rs, median = result["rounds"], result["median_round"]
    each = ", ".join(f"{r['cpu_ratio']:.2f}x" for r in rs)
    rows = [
        ("", "this pipeline", "local SES ceiling", "naive baseline"),
        ("emails", str(p["emails"]), str(c["emails"]), str(nv["emails"])),
        ("seconds", f"{p['seconds']}", f"{c['seconds']}", f"{nv['send_seconds']} (+{nv['scan_seconds']} scan)"),
        ("emails/s", f"{p['emails_per_second']}", f"{c['emails_per_second']}", f"{nv['emails_per_second']}"),
        ("AWS requests/email", f"{p['requests_per_email']}", "1", f"{nv['requests_per_email']}"),
        *[
            (f"{label} CPU ms/email", *(f"{r[key]}" for r in (p, c, nv)))
            for label, key in (("local AWS", "local_aws_cpu_ms_per_email"), ("client", "client_cpu_ms_per_email"))
        ],
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(v.ljust(width[i]) for i, v in enumerate(r)) for r in rows]
    share = p["emails_per_second"] / c["emails_per_second"] if c["emails_per_second"] else 0
    vs_naive = p["emails_per_second"] / nv["emails_per_second"] if nv["emails_per_second"] else 0
    lines += [
        "",
        f"subscribers {p['subscribers']} (eligible {p['eligible']}), loaded in {p['load_seconds']} s; "
        f"concurrency {result['concurrency']} x {result['send_threads']} send threads; local AWS: "
        + ("DynamoDB in a process of its own" if result.get("dynamodb_process") else "one process"),
        f"throughput: {share:.0%} of the local SES ceiling (target >= 80%), {vs_naive:.1f}x naive (target >= 2x)",
        f"requests/email: {p['requests_per_email']} (target <= 1.12)",
        f"CPU/email: pipeline {cpu(p):.2f} ms vs local SES ceiling {cpu(c):.2f} ms = "
        f"{cpu(p) / cpu(c) if cpu(c) else 0:.2f}x (target <= 1.5x), the median of {len(rs)} rounds "
        f"(each round's: {each}; the table is round {median})",
        f"exactly once, all rounds: duplicates {sum(r['duplicates'] for r in rs)}, missing "
        f"{sum(r['missing'] for r in rs)}, ineligible emailed {sum(r['ineligible_emailed'] for r in rs)} "
        "(target 0/0/0)",
        *([bench_digests.report(result["digests"])] if "digests" in result else []),
        f"peak Python heap of one invocation: fan-out {p['peak_kib_fanout_invocation']} KiB, "
        f"delivery {p['peak_kib_delivery_invocation']} KiB",
        f"cold start: import app {cs['import_app_ms']} ms vs boto3 {cs['import_boto3_ms']} ms = {cs['ratio']}x "
        "(target <= 1.5x); by a function's first AWS call (app + boto3 + its modules): "
        + ", ".join(f"{k} {cs['first_aws_call_ms'][k]} ms = {cs['first_aws_call_ratio'][k]}x" for k in FIRST_CALL),
    ]
    return "\n".join(lines)


def run(
    n: int = 10_000,
    concurrency: int = 2,
    out: Path | None = ROOT / "bench" / "results",
    naive_n: int = 1000,
    ceiling_n: int | None = None,
    quiet: bool = False,
    memory: bool = False,
    dynamodb_process: bool = True,
    digests_only: bool = False,
    rounds: int = 3,
) -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # before chalicelib makes its logger
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF to stdout would drown the table
    import boto3

    from bench import digests as bench_digests
    from chalicelib.domain.delivery import send as delivery_send
    from patchcast_tools.local.stack import LocalStack

    os.environ["PATCHCAST_DELIVERY_CONCURRENCY"] = str(concurrency)
    state = Path(tempfile.mkdtemp(prefix="patchcast-bench-"))
    stack = LocalStack.on_free_ports(state, dynamodb=dynamodb_process)
    try:
        stack.start(seed=False, api=False, events=False)
        session = boto3.session.Session(region_name="us-east-1")
        from chalicelib.adapters import settings

        sender = settings.get().sender
        result: dict[str, Any] = {
            "concurrency": concurrency,
            "send_threads": delivery_send.SEND_CONCURRENCY,
            "dynamodb_process": dynamodb_process,
        }
        if memory:
            result = {"memory_only": memory_only(n, session)}
            print(json.dumps(result["memory_only"]))
            return result
        aws_pids = [p.pid for p in stack.procs]  # the local AWS (moto), the only processes this stack starts
        if digests_only:
            result = {"digests": bench_digests.run(n, session)}
            print(json.dumps(result["digests"], indent=2))
            print(bench_digests.report(result["digests"]))
            return result
        threads = concurrency * delivery_send.SEND_CONCURRENCY
        # As many emails as the pipeline's N by default: each run then spreads a fresh local AWS's first-request
        # costs over as many emails, and is long enough to average the machine's short slowdowns
        ceiling_count = max(200, n if ceiling_n is None else min(ceiling_n, n))
        pairs: list[dict[str, dict[str, Any]]] = []
        for i in range(rounds):
            # Ceiling and pipeline take turns going first (the last round ends with a pipeline: the digest
            # and naive runs below use its local AWS, as they always have)
            order = ("ceiling", "pipeline") if (rounds - 1 - i) % 2 == 0 else ("pipeline", "ceiling")
            got: dict[str, dict[str, Any]] = {}
            for what in order:
                if pairs or got:  # each measurement on a local AWS of its own: new processes and state
                    stack = afresh(stack)
                    aws_pids = [p.pid for p in stack.procs]
                got[what] = (
                    pipeline(n, concurrency, session, aws_pids)
                    if what == "pipeline"
                    else ceiling(session, sender, threads, ceiling_count, aws_pids)
                )
            pairs.append(got)
        result["rounds"] = [round_of(r["pipeline"], r["ceiling"]) for r in pairs]
        middle = sorted(range(rounds), key=lambda i: result["rounds"][i]["cpu_ratio"])[rounds // 2]
        result["pipeline"], result["ceiling"] = pairs[middle]["pipeline"], pairs[middle]["ceiling"]
        result["median_round"] = middle + 1
        result["digests"] = bench_digests.run(n, session)
        result["naive"] = naive(
            session, settings.get().names.table, pairs[-1]["pipeline"]["product"], sender, min(naive_n, n), aws_pids
        )
    finally:
        stack.stop()
    result["cold_start"] = cold_start()
    result.update(extras())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"delivery-{n}-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=2))
        result["json"] = str(path)
    if not quiet:
        print(report(result))
        if "json" in result:
            print(f"\nJSON: {result['json']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("N", "10000")), help="subscribers (env N)")
    parser.add_argument("--concurrency", type=int, default=2, help="delivery invocations at once")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--naive", type=int, default=1000, help="recipients the naive baseline sends to")
    parser.add_argument("--ceiling", type=int, help="emails of each bare SES ceiling run (default: --n)")
    parser.add_argument("--memory-only", action="store_true", help="only the per-invocation peak heap at --n")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="serve DynamoDB from the same local AWS process as SES, as make run does",
    )
    parser.add_argument("--digests-only", action="store_true", help="only the digest run at --n")
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("ROUNDS", "3")),
        help="pipeline and ceiling pairs, each run on a fresh local AWS; the report gives the median (env ROUNDS)",
    )
    args = parser.parse_args()
    run(
        args.n,
        args.concurrency,
        args.out,
        naive_n=args.naive,
        ceiling_n=args.ceiling,
        memory=args.memory_only,
        dynamodb_process=not args.one_process,
        digests_only=args.digests_only,
        rounds=max(1, args.rounds),
    )


if __name__ == "__main__":
    main()
