"""Virtual time for the real domain code: every Lambda invocation (and every send thread it starts) runs in
a greenlet driven by a SimPy process. Where the code would wait (the pacer's sleep, an AWS call's latency,
a future it waits for) the greenlet hands SimPy an event and is resumed when that event fires, so SimPy's
clock advances instead of the machine's. Only one greenlet runs at a time: no locks are ever contended.

A killed invocation (its timeout, or an injected kill) raises ``Killed`` the next time any of its greenlets
is resumed, before any further side effect: a dead Lambda sends and writes nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import greenlet
import simpy

Proc = Generator[simpy.Event, Any, Any]  # a SimPy process's generator

# Virtual epoch seconds at SimPy's time 0 (2027-01-15T08:00:00Z): leases and claims compare against it.
EPOCH = 1_800_000_000.0


class Killed(BaseException):
    """Lambda ended the invocation (its timeout, or a fault): not an ``Exception``, as the code's own
    handlers must not catch it (the process is gone)."""


@dataclass
class Invocation:
    """One Lambda invocation: its function, when its timeout kills it, and what it is working on."""

    function: str
    deadline: float
    killed: bool = False
    batch: Any = None  # the DeliveryBatch being delivered, for the SES model's bookkeeping
    started: float = 0.0


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


@dataclass
class VirtualTime:
    env: simpy.Environment
    switches: int = 0
    _contexts: dict[int, Invocation] = field(default_factory=dict)
    _hub: greenlet.greenlet = field(default_factory=greenlet.getcurrent)

    def now(self) -> float:
        """Virtual epoch seconds (the store's clock, the pacer's clock, the deadline's clock)."""
        return EPOCH + self.env.now

    def invocation(self) -> Invocation | None:
        return self._contexts.get(id(greenlet.getcurrent()))

    def run(self, fn: Callable[[], Any], ctx: Invocation) -> simpy.Event:
        """``fn`` in a greenlet of its own; the event fires with an ``Outcome`` when it ends (never fails).

        The greenlet is started and resumed only from SimPy's callbacks, i.e. from the hub (the greenlet
        running ``env.run``), so that switching back always returns there."""
        done, start = self.env.event(), self.env.event()
        g = greenlet.greenlet(fn, parent=self._hub)
        self._contexts[id(g)] = ctx

        def step(event: simpy.Event) -> None:
            try:
                ask = g.switch(event.value) if event is not start else g.switch()  # the first: no argument
            except BaseException as exc:  # noqa: BLE001 - the invocation's failure is its outcome
                self._contexts.pop(id(g), None)
                done.succeed(Outcome(error=exc))
                return
            if g.dead:
                self._contexts.pop(id(g), None)
                done.succeed(Outcome(value=ask))
                return
            self.switches += 1
            ask.callbacks.append(step)

        start.callbacks.append(step)
        start.succeed()
        return done

    def wait(self, event: simpy.Event) -> Any:
        """Block the calling greenlet until ``event`` fires (SimPy runs the rest meanwhile)."""
        me = greenlet.getcurrent()
        ctx = self._contexts.get(id(me))
        if ctx is None or me.parent is None:
            raise RuntimeError("virtual waits happen inside a simulated invocation only")
        value = me.parent.switch(event)
        if ctx.killed:
            raise Killed(ctx.function)
        return value

    def sleep(self, seconds: float) -> None:
        ctx = self.invocation()
        if ctx is not None and ctx.killed:
            raise Killed(ctx.function)
        if seconds > 0:
            self.wait(self.env.timeout(seconds))

    def monotonic(self) -> float:
        return self.env.now

    def executor(self, max_workers: int = 8) -> Executor:
        return Executor(self, max_workers)

    def as_completed(self, futures: Iterable[Future[Any]]) -> Iterator[Future[Any]]:
        """``concurrent.futures.as_completed`` in virtual time (cancelled futures count as done, as there)."""
        pending = set(futures)
        ready: deque[Future[Any]] = deque()
        woken: list[simpy.Event] = []

        def finished(f: Future[Any]) -> None:
            ready.append(f)
            if woken and not woken[-1].triggered:
                woken[-1].succeed()

        for f in list(pending):
            f.add_done_callback(finished)
        while pending:
            if not ready:
                woken.append(self.env.event())
                self.wait(woken[-1])
                continue
            f = ready.popleft()
            if f in pending:
                pending.remove(f)
                yield f


class Executor:
    """``ThreadPoolExecutor`` in virtual time: at most ``max_workers`` tasks run at once, each a greenlet of
    the submitting invocation (killed with it); leaving the ``with`` waits for the started ones."""

    def __init__(self, vt: VirtualTime, max_workers: int) -> None:
        self.vt, self.max_workers = vt, max(1, max_workers)
        ctx = vt.invocation()
        assert ctx is not None, "an executor is made inside a simulated invocation"
        self.ctx = ctx
        self.running = 0
        self.waiting: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.futures.append(future)
        self.waiting.append((future, lambda: fn(*args)))
        self._start()
        return future

    def _start(self) -> None:
        while self.running < self.max_workers and self.waiting:
            future, call = self.waiting.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            self.running += 1
            if self.ctx.killed:
                self._finish(future, Outcome(error=Killed(self.ctx.function)))
            else:
                self.vt.run(call, self.ctx).callbacks.append(self._finisher(future))

    def _finisher(self, future: Future[Any]) -> Callable[[simpy.Event], None]:
        return lambda event: self._finish(future, event.value if event.value is not None else Outcome())

    def _finish(self, future: Future[Any], outcome: Outcome) -> None:
        self.running -= 1
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.value)
        self._start()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ctx.killed:
            return
        for f in self.futures:
            if not f.done():
                done = self.vt.env.event()
                f.add_done_callback(_succeed(done))
                self.vt.wait(done)


def _succeed(event: simpy.Event) -> Callable[[Future[Any]], None]:
    def call(_: Future[Any]) -> None:
        if not event.triggered:
            event.succeed()

    return call
