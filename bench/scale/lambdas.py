"""SQS and Lambda in the model: standard queues (at least once, delays, the visibility timeout, receive counts
and the DLQ), each SQS-triggered function polled by as many pollers as its reserved concurrency allows,
scaled up from five, picked up after a latency; execution environments warm or cold; each invocation killed
at its timeout (or by an injected fault); the account's concurrency shared; and what each function cost.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from bench.scale.params import Params
from bench.scale.vtime import Invocation, Outcome, Proc, VirtualTime
from chalicelib.adapters.queues import Queues
from chalicelib.names import ResourceNames

Handler = Callable[[dict[str, Any]], Any]


@dataclass
class Message:
    body: dict[str, Any]
    receives: int = 0


@dataclass
class Counters:
    """Requests by service and operation, for requests per email."""

    requests: dict[str, int] = field(default_factory=dict)

    def add(self, operation: str, n: int = 1) -> None:
        self.requests[operation] = self.requests.get(operation, 0) + n


class SimQueue:
    def __init__(self, vt: VirtualTime, name: str, visibility: float, params: Params, rng: random.Random) -> None:
        self.vt, self.name, self.visibility, self.params, self.rng = vt, name, visibility, params, rng
        self.ready: simpy.Store = simpy.Store(vt.env)
        self.dlq: list[Message] = []
        self.first_sent: float | None = None
        self.in_flight = 0

    def send(self, body: Mapping[str, Any], delay: int) -> None:
        if self.first_sent is None:
            self.first_sent = self.vt.env.now
        copies = 2 if self.rng.random() < self.params.sqs_duplicates else 1  # at least once
        for _ in range(copies):
            self._later(Message(json.loads(json.dumps(body))), float(min(delay, 900)))

    def _later(self, message: Message, delay: float) -> None:
        self.in_flight += 1
        if delay <= 0:
            self.ready.put(message)
        else:
            self.vt.env.process(self._delayed(message, delay))

    def _delayed(self, message: Message, delay: float) -> Proc:
        yield self.vt.env.timeout(delay)
        self.ready.put(message)

    def done(self, message: Message) -> None:
        self.in_flight -= 1

    def failed(self, message: Message, received_at: float) -> None:
        """Not deleted: visible again once its visibility timeout runs out, or to the DLQ after the last."""
        self.in_flight -= 1
        if message.receives >= self.params.sqs_max_receives:
            self.dlq.append(message)
            return
        self._later(message, received_at + self.visibility - self.vt.env.now)


@dataclass
class Function:
    vt: VirtualTime
    name: str
    params: Params
    handler: Handler
    account: simpy.Resource
    rng: random.Random
    running: int = 0
    peak: int = 0
    seconds: float = 0.0
    invocations: int = 0
    cold_starts: int = 0
    last_end: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    _idle: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.slots = simpy.Resource(self.vt.env, capacity=self.params.reserved(self.name))
        self.timeout = self.params.timeout(self.name)

    def invoke(self, body: dict[str, Any], *, kill_after: float | None = None) -> Proc:
        """One invocation (its value: whether it succeeded), queued for the reserved and account concurrency."""
        env = self.vt.env
        with self.slots.request() as slot, self.account.request() as acct:
            yield slot & acct
            start = env.now
            self.running += 1
            self.peak, self.invocations = max(self.peak, self.running), self.invocations + 1
            self._idle = [t for t in self._idle if env.now - t < self.params.idle_expiry]
            if self._idle:
                self._idle.pop()
            else:
                self.cold_starts += 1
                yield env.timeout(self.params.cold_start)
            ctx = Invocation(self.name, deadline=env.now + self.timeout, started=env.now)
            proc = self.vt.run(lambda: self.handler(body), ctx)
            ends = [proc, env.timeout(self.timeout)] + ([env.timeout(kill_after)] if kill_after is not None else [])
            yield env.any_of(ends)
            outcome: Outcome | None = proc.value if proc.triggered else None
            ok = outcome is not None and outcome.error is None
            if outcome is None:
                ctx.killed = True
                self._error("killed" if kill_after is not None and kill_after < self.timeout else "timeout")
            elif outcome.error is not None:
                self._error(type(outcome.error).__name__)
            self.seconds += env.now - start  # the init phase is billed too
            self.running -= 1
            self._idle.append(env.now)
            self.last_end = env.now
        return ok

    def _error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def remaining_ms(self) -> int:
        ctx = self.vt.invocation()
        return int(1000 * ((ctx.deadline if ctx else self.vt.env.now) - self.vt.env.now))


def poll(vt: VirtualTime, queue: SimQueue, function: Function, kill_odds: float = 0.0) -> None:
    """The SQS event source: one poller per unit of the function's reserved concurrency, batch size 1."""
    for i in range(function.params.reserved(function.name)):
        vt.env.process(_poller(vt, queue, function, i, kill_odds))


def _poller(vt: VirtualTime, queue: SimQueue, function: Function, i: int, kill_odds: float) -> Proc:
    p, env = function.params, vt.env
    message = yield queue.ready.get()
    assert queue.first_sent is not None
    # Lambda starts with five pollers and adds up to 300 a minute while messages wait
    joins = queue.first_sent + max(0, i + 1 - p.pollers_initial) * 60.0 / p.pollers_per_minute
    if joins > env.now:
        yield env.timeout(joins - env.now)
    while True:
        yield env.timeout(function.rng.uniform(*p.sqs_pickup))
        received_at = env.now
        message.receives += 1
        kill = None
        if kill_odds and function.rng.random() < kill_odds:
            kill = function.rng.uniform(0.1, 0.9) * 49 / max(0.1, p.max_send_rate * p.share(function.name))
        ok = yield env.process(function.invoke(message.body, kill_after=kill))
        if ok:
            queue.done(message)
        else:
            queue.failed(message, received_at)
        message = yield queue.ready.get()


class SimQueues(Queues):
    """The real adapter's intent methods over the model's queues; each SendMessageBatch costs a latency."""

    def __init__(self, vt: VirtualTime, queues: dict[str, SimQueue], counters: Counters, params: Params) -> None:
        super().__init__(None, ResourceNames("sim"))
        self.vt, self.queues, self.counters, self.params = vt, queues, counters, params
        self.rng = random.Random(params.seed + 1)

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        for start in range(0, len(bodies), 10):
            self.vt.sleep(self.rng.uniform(*self.params.sqs_latency))
            self.counters.add("sqs.SendMessageBatch")
            for body in bodies[start : start + 10]:
                self.queues[name].send(body, delay)
