"""The model's world: the population in the store, the queues, SES, and the functions the packaged template
deploys, each running the real domain code as its handler in ``chalicelib/routes`` does, in virtual time.

The seams (all in ``virtual``): delivery's send threads, its clock and its pacer's sleep are the model's
(``chalicelib.domain.delivery.send``: ``ThreadPoolExecutor``, ``as_completed``, ``clock``, ``Pacer``); the
store, the queues and the mailer are passed in as the handlers pass theirs. Nothing else is patched.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import simpy

from bench.scale import population as pop
from bench.scale.lambdas import Counters, Function, SimQueue, SimQueues, poll
from bench.scale.params import Params
from bench.scale.ses import Ses
from bench.scale.store import IndexedStore, Latent
from bench.scale.vtime import Proc, VirtualTime
from chalicelib.domain.access.auth import Identity
from chalicelib.domain.access.links import LinkMaker
from chalicelib.domain.access.tokens import KeyRing
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.states import Group
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile
from chalicelib.domain.delivery import send as delivery_send
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.mail.pacing import Pacer, QuotaCache, SendQuota
from chalicelib.domain.releases import publishing, recall
from chalicelib.names import ResourceNames
from chalicelib.observability import flushing_metrics

LINKS = LinkMaker(KeyRing(current="k1", keys={"k1": b"s" * 40}), "https://patchcast.example")
ENGINEER = Identity(
    subject="re-1", email="re@vendor.example", account_id=None, groups=frozenset({Group.RELEASE_ENGINEERS})
)


@contextlib.contextmanager
def virtual(vt: VirtualTime) -> Iterator[None]:
    """Delivery's threads, clock and sleeps in virtual time while inside; as they were after."""

    class SimPacer(Pacer):
        @classmethod
        def share(cls, quota: SendQuota, share: float, **_: Any) -> Pacer:
            return Pacer(quota.max_send_rate * share, clock=vt.monotonic, sleep=vt.sleep)

    seams: dict[str, Any] = {"ThreadPoolExecutor": vt.executor, "as_completed": vt.as_completed}
    seams.update(clock=vt.monotonic, Pacer=SimPacer)
    saved = {name: getattr(delivery_send, name) for name in seams}
    for name, value in seams.items():
        setattr(delivery_send, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(delivery_send, name, value)


class World:
    def __init__(self, params: Params, population: pop.Population) -> None:
        self.params, self.population = params, population
        self.env = simpy.Environment()
        self.vt = VirtualTime(self.env)
        self.rng = random.Random(params.seed)
        self.counters = Counters()
        self.store = IndexedStore(clock=self.vt.now)
        for product in population.products:
            self.store.put_product(product)
        self.store.accounts = {a.account_id: a for a in population.accounts}
        self.store.subscriptions = {(s.account_id, s.subscription_id): s for s in population.subscriptions}
        self.db = Latent(self.store, self.vt, self.counters, params)
        self.ses = Ses(self.vt, params, random.Random(params.seed + 3))
        names = {"on_fanout": "fanout", "on_deliver": "deliver", "on_deliver_critical": "deliver-critical"}
        self.queues = {
            f: SimQueue(self.vt, q, params.timeout(f) * params.visibility_factor, params, self.rng)
            for f, q in names.items()
        }
        n = ResourceNames("sim")
        by_name = {n.fanout_queue: "on_fanout", n.deliver_queue: "on_deliver", n.critical_queue: "on_deliver_critical"}
        self.sqs = SimQueues(self.vt, {q: self.queues[f] for q, f in by_name.items()}, self.counters, params)
        account = simpy.Resource(self.env, capacity=params.account_concurrency)
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "on_fanout": self._fanout,
            "on_deliver": lambda body: self._deliver(body, "on_deliver"),
            "on_deliver_critical": lambda body: self._deliver(body, "on_deliver_critical"),
            "publish_scheduled": lambda body: publishing.publish_due(self.db, self.sqs),  # type: ignore[arg-type]
            "reconcile_deliveries": lambda body: reconcile.reconcile(self.db, self.sqs, now=int(self.vt.now())),  # type: ignore[arg-type]
            "api_handler": lambda body: body["call"](),
        }
        self.functions = {
            name: Function(self.vt, name, params, h, account, random.Random(params.seed + i))
            for i, (name, h) in enumerate(handlers.items())
        }
        self.quotas = {f: QuotaCache(self.ses.send_quota, clock=self.vt.monotonic) for f in names}
        for f, queue in self.queues.items():
            poll(self.vt, queue, self.functions[f], params.kill_odds if f != "on_fanout" else 0.0)
        self.env.process(self._every(params.reconcile_every, "reconcile_deliveries"))

    # -- the handlers, as chalicelib/routes/pipeline.py wires them --------------------------------------
    def _fanout(self, body: dict[str, Any]) -> None:
        page = FanoutPage.from_json(body)
        if page.kind == recall.RECALL:
            recall.run_page(self.db, self.sqs, page)  # type: ignore[arg-type]
        else:
            fanout.run(self.db, self.sqs, page)  # type: ignore[arg-type]

    def _deliver(self, body: dict[str, Any], function: str) -> None:
        batch = DeliveryBatch.from_json(body)
        ctx = self.vt.invocation()
        if ctx is not None:
            ctx.batch = batch
        deps = delivery.Deps(
            table=self.db,  # type: ignore[arg-type]
            mailer=self.ses,  # type: ignore[arg-type]
            queues=self.sqs,
            urls=LINKS,
            link_days=7,
            quota=self.quotas[function],
            share=self.params.share(function),
            remaining_ms=self.functions[function].remaining_ms,
        )
        with flushing_metrics():  # as the handler does: a warm container's metrics do not pile up
            delivery.run(deps, batch, critical=function == "on_deliver_critical")

    # -- EventBridge: at least once, sometimes twice ----------------------------------------------------
    def fire(self, function: str, body: dict[str, Any] | None = None, *, twice: bool = False) -> None:
        copies = 2 if twice or self.rng.random() < self.params.schedule_twice else 1
        for _ in range(copies):
            self.env.process(self.functions[function].invoke(body or {}))

    def _every(self, seconds: float, function: str) -> Proc:
        while True:
            yield self.env.timeout(seconds)
            self.fire(function)

    def call(self, fn: Callable[[], Any]) -> None:
        """An API request (a release engineer's), run as an invocation of the API function."""
        self.env.process(self.functions["api_handler"].invoke({"call": fn}))

    def quiet(self) -> bool:
        busy = any(f.running for n, f in self.functions.items() if n != "reconcile_deliveries")
        return not busy and all(q.in_flight == 0 for q in self.queues.values())

    def run_until_quiet(self, *, limit: float, check: float = 5.0) -> float:
        """Run until nothing is queued or running (or ``limit`` virtual seconds); the virtual time then."""

        def watch() -> Proc:
            yield self.env.timeout(check)
            while not self.quiet() and self.env.now < limit:
                yield self.env.timeout(check)

        with virtual(self.vt):
            self.env.run(until=self.env.process(watch()))
        return self.env.now
