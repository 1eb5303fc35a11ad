"""Deferred fax waits in one event loop: N waits, 200 ms per request, a 5 s poll, faxes going final in batches.

Each candidate runs N waits (one per fax) as coroutines of one ``asyncio.run``, as a triggerer runs its
triggers, against a simulator (its own process) that delays every request by the latency:

- ours: N ``FaxTrigger(criteria={"fax_ids": [id]}, poll_interval=I).run()``, each taken to its first
  event; the waits of one connection share their polls (``FaxWaitPoller``);
- thread-per-poll: the FaxTrigger before the async client, copied here: per wait a ``SinchHook`` and
  ``await asyncio.to_thread(hook.fax.find_matching_faxes, fax_ids=[id])`` every I seconds, on asyncio's
  default executor (``min(32, nproc + 4)`` threads, as in the triggerer);
- request per wait: the ``HttpSensorTrigger`` pattern, a ``GET faxes/{id}`` per wait per poll with Basic
  auth, on one shared ``httpx.AsyncClient`` (at most 100 in flight: its pool's size).

The store holds N OUTBOUND faxes IN_PROGRESS created in a burst over the last 2 minutes, N/10 other
faxes in the same minutes and a few thousand over the past 3 days. The simulator process marks the N
faxes COMPLETED in 6 batches from 2 poll intervals on and records when; a watchdog coroutine sleeping
10 ms records the longest event-loop block and the peak thread count.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import _common as c

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

CONN_ID = "sinch_default"
FINAL = ("COMPLETED", "FAILURE")
#: The faxes go final in this many batches, ``BATCH_STEP`` poll intervals apart from 2 intervals after the
#: waits start: 2, 2.37, ... 3.85 intervals, so the batches fall at different points of a poll interval.
BATCHES = 6
BATCH_STEP = 0.37
#: The request-per-wait baseline keeps at most this many GETs in flight: httpx's pool size (see main's details).
GET_CONCURRENCY = 100
TICK = 0.010  # the watchdog's sleep
MAX_BLOCK = 0.050  # the target: no event-loop block over 50 ms
#: "No thread per wait": threads the run may start whatever N (ours: the one asgiref uses to read the connection).
MAX_THREADS_STARTED = 2


@dataclass
class Run:
    """What one candidate did in one run."""

    name: str
    waits: int
    interval: float
    requests: int = 0
    rounds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    unfired: int = 0
    errors: int = 0
    max_block: float = 0.0
    block_at: float = 0.0
    block_cpu: float = 0.0
    max_cpu_block: float = 0.0
    threads_before: int = 0
    peak_threads: int = 0
    new_threads: dict[str, int] = field(default_factory=dict)
    retries: int = 0  # requests repeated after a transport error (ours: the hook's retries)
    retry_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: float = 0.0
    #: Python's full (generation 2) collections during the run: how many, and the longest, in seconds.
    full_gcs: int = 0
    longest_full_gc: float = 0.0

    @property
    def per_round(self) -> float:
        return self.requests / self.rounds if self.rounds else math.nan

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else math.nan

    @property
    def worst(self) -> float:
        return max(self.latencies) if self.latencies else math.nan


class RetryCounter(logging.Handler):
    """Counts the async hook's "retry" warnings (a transport error or a retried status) during a run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if "retry" in str(record.msg):
            self.count += 1
            self.reasons[str(record.args[2]) if isinstance(record.args, tuple) and len(record.args) > 2 else "?"] += 1

    def __enter__(self) -> RetryCounter:
        logger = logging.getLogger("airflow_provider_sinch.hooks.sinch_async")
        self._saved = logger.level, logger.propagate
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("airflow_provider_sinch.hooks.sinch_async")
        logger.removeHandler(self)
        logger.level, logger.propagate = self._saved


class FullGcMonitor:
    """Times Python's full (generation 2) collections while active: each stops the event loop's thread."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._start)

    def __enter__(self) -> FullGcMonitor:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


class Watchdog:
    """Sleeps ``TICK`` in a loop: the longest overshoot is the longest event-loop block; samples threads."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.max_block = 0.0
        self.block_at = 0.0
        #: CPU time the loop's thread ran during the longest block (much less: the process was not running).
        self.block_cpu = 0.0
        #: The most CPU time the loop's thread ran between two ticks.
        self.max_cpu_block = 0.0
        self.peak_threads = threading.active_count()
        self._before = {thread.ident for thread in threading.enumerate()}
        #: The threads started during the run, at the peak: name (without its number) -> how many.
        self.new_threads: dict[str, int] = {}
        self._stop = False

    async def run(self) -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not self._stop:
            await asyncio.sleep(TICK)
            now, cpu = time.perf_counter(), time.thread_time()
            if now - last - TICK > self.max_block:
                self.max_block, self.block_at = now - last - TICK, now - self.started
                self.block_cpu = cpu - last_cpu
            self.max_cpu_block = max(self.max_cpu_block, cpu - last_cpu)
            last_cpu = cpu
            count = threading.active_count()
            if count > self.peak_threads:
                self.peak_threads = count
                names = [t.name for t in threading.enumerate() if t.ident not in self._before]
                self.new_threads = dict(Counter(re.sub(r"[_-]?\d+$", "", name) for name in names))
            last = now

    def stop(self) -> None:
        self._stop = True


# ------------------------------------------------------------------------------------------ candidates


def ours(
    fax_ids: list[str], interval: float, fired: dict[str, float], polls: list[int]
) -> list[Coroutine[Any, Any, None]]:
    from airflow_provider_sinch.triggers.fax import FaxTrigger, FaxWaitPoller

    async def wait(fax_id: str) -> None:
        events = FaxTrigger(criteria={"fax_ids": [fax_id]}, poll_interval=interval).run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()  # type: ignore[attr-defined]  # run() is an async generator
        fired[fax_id] = time.time()
        if event.payload.get("status") != "success" or event.payload.get("fax_ids") != [fax_id]:
            raise RuntimeError(f"FaxTrigger fired {event.payload!r}")

    async def count_rounds() -> None:
        await asyncio.sleep(0)  # the waits have registered: the poller of the connection exists
        poller = FaxWaitPoller.of(CONN_ID)
        try:
            await asyncio.Event().wait()
        finally:
            polls[0] = poller.rounds  # one round polls every wait

    return [count_rounds(), *(wait(fax_id) for fax_id in fax_ids)]


def thread_per_poll(
    fax_ids: list[str], interval: float, fired: dict[str, float], polls: list[int]
) -> list[Coroutine[Any, Any, None]]:
    """The previous ``FaxTrigger.run``: the sync hook's matching function in a thread, every poll."""
    from airflow_provider_sinch.hooks.sinch import SinchHook

    async def wait(fax_id: str) -> None:
        hook = SinchHook(sinch_conn_id=CONN_ID)
        try:
            while True:
                faxes = await asyncio.to_thread(hook.fax.find_matching_faxes, fax_ids=[fax_id])
                polls[0] += 1
                if faxes:
                    fired[fax_id] = time.time()
                    return
                await asyncio.sleep(interval)
        finally:
            hook.close()

    return [wait(fax_id) for fax_id in fax_ids]


def request_per_wait(
    fax_ids: list[str], interval: float, fired: dict[str, float], polls: list[int], url: str, retries: list[int]
) -> list[Coroutine[Any, Any, None]]:
    """``HttpSensorTrigger``'s loop: one GET of the fax per wait per poll, one shared client."""
    import httpx

    clients: list[httpx.AsyncClient] = []  # made by the first wait, inside the measured loop, as ours is
    remaining = set(fax_ids)
    in_flight = asyncio.Semaphore(GET_CONCURRENCY)

    async def get(client: httpx.AsyncClient, fax_id: str) -> httpx.Response:
        async with in_flight:
            for attempt in (1, 2):
                try:
                    return await client.get(f"{url}{c.FAXES_PATH}/{fax_id}", headers={"Accept": "application/json"})
                except httpx.RemoteProtocolError:  # the server closed an idle keep-alive connection: once more
                    if attempt == 2:
                        raise
                    retries[0] += 1
        raise AssertionError("unreachable")

    async def wait(fax_id: str) -> None:
        if not clients:
            clients.append(httpx.AsyncClient(auth=(c.KEY_ID, c.KEY_SECRET), timeout=120, trust_env=False))
        client = clients[0]
        try:
            while True:
                response = await get(client, fax_id)
                response.raise_for_status()
                polls[0] += 1
                if response.json().get("status") in FINAL:
                    fired[fax_id] = time.time()
                    return
                await asyncio.sleep(interval)
        finally:
            remaining.discard(fax_id)
            if not remaining:
                await client.aclose()

    return [wait(fax_id) for fax_id in fax_ids]


CANDIDATES: dict[str, Callable[..., list[Coroutine[Any, Any, None]]]] = {
    "ours": ours,
    "thread-per-poll": thread_per_poll,
    "request per wait": request_per_wait,
}


# ----------------------------------------------------------------------------------------------- a run


def run_candidate(name: str, waits: int, interval: float, latency: float, history: int) -> Run:
    """A fresh simulator with the store described above; N waits of one candidate until all have fired."""
    result = Run(name, waits, interval)
    now = c.now()
    with c.Simulator(seed=9, seed_faxes=history, seed_period_days=3, seed_end=now - timedelta(minutes=3)) as sim:
        c.set_sinch_connection(sim.url)
        burst = timedelta(minutes=2)
        fax_ids = sim.add_faxes(
            [
                {"direction": "OUTBOUND", "status": "IN_PROGRESS", "create_time": now - burst + burst * i / waits}
                for i in range(waits)
            ]
        )
        others = max(1, waits // 10)
        sim.add_faxes(
            [{"direction": "INBOUND", "create_time": now - burst + burst * i / others} for i in range(others)]
        )
        sim.latency(latency, path_prefix="/v3/")
        sim.reset()

        fired: dict[str, float] = {}
        polls = [0]
        retries = [0]
        extra = (sim.url, retries) if name == "request per wait" else ()
        # Slowest candidate: every wait's poll through the default executor's threads, one after another.
        workers = min(32, (os.cpu_count() or 1) + 4)
        patience = 3 * interval + 1.5 * waits * (latency + 0.01) / workers + 10

        async def main() -> float:
            started = time.perf_counter()
            result.threads_before = threading.active_count()
            watchdog = Watchdog(started)
            dog = asyncio.create_task(watchdog.run())
            coroutines = CANDIDATES[name](fax_ids, interval, fired, polls, *extra)
            tasks: list[asyncio.Task[None]] = []
            for coro in coroutines:  # as the triggerer's create_triggers starts them: one per loop iteration
                tasks.append(asyncio.create_task(coro))
                await asyncio.sleep(0)
            deadline = time.perf_counter() + interval * (2.0 + BATCH_STEP * (BATCHES - 1)) + patience
            done, pending = await asyncio.wait(tasks[-len(fax_ids) :], timeout=max(0.0, deadline - time.perf_counter()))
            for task in done:
                if task.exception() is not None:
                    result.errors += 1
                    if result.errors == 1:
                        print(f"  {name}: a wait failed: {task.exception()!r}", flush=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            watchdog.stop()
            await dog
            result.max_block, result.block_at = watchdog.max_block, watchdog.block_at
            result.block_cpu, result.max_cpu_block = watchdog.block_cpu, watchdog.max_cpu_block
            result.peak_threads, result.new_threads = watchdog.peak_threads, watchdog.new_threads
            result.unfired = len(pending)
            return time.perf_counter() - started

        t0, step = time.time(), len(fax_ids) / BATCHES  # scheduled before the loop: the call blocks for a moment
        batches = [
            (t0 + interval * (2.0 + BATCH_STEP * k), fax_ids[round(k * step) : round((k + 1) * step)])
            for k in range(BATCHES)
        ]
        sim.schedule_updates(batches, status="COMPLETED")
        # The previous runs' garbage is collected now, not during this run: a full collection of this
        # process's heap (Airflow imported) stops the loop for 100-250 ms here, whatever code allocated last.
        gc.collect()
        cpu = time.process_time()
        with RetryCounter() as retried, FullGcMonitor() as full_gcs:
            result.seconds = asyncio.run(main())
        result.cpu = time.process_time() - cpu
        result.full_gcs, result.longest_full_gc = full_gcs.count, full_gcs.longest
        result.retries = retried.count + retries[0]
        result.retry_reasons = dict(retried.reasons)
        result.requests = sim.count(c.FAXES_PATH, "GET")
        finals = sim.update_times()
    result.rounds = polls[0] if name == "ours" else polls[0] / waits  # polls per wait
    result.latencies = sorted(fired[i] - finals[i] for i in fax_ids if i in fired and i in finals)
    return result


# ---------------------------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}" if math.isfinite(value) else "n/a"


def describe(run: Run) -> str:
    """One detail line: everything a run measured."""
    fired = f"fired {len(run.latencies)} of {run.waits}"
    if run.unfired:
        fired += f" ({run.unfired} not within the timeout)"
    if run.errors:
        fired += f", {run.errors} failed"
    retried = f"; {run.retries} request(s) retried {run.retry_reasons or ''}".rstrip() if run.retries else ""
    started = ", ".join(f"{name} x{count}" for name, count in run.new_threads.items())
    return (
        f"{run.waits:,} waits, {run.name}: {run.requests:,} GET requests over {run.rounds:.1f} poll rounds "
        f"({fmt(run.per_round, 1)} per round){retried}; {fired}; fire latency p50 {fmt(run.p50)} s, max "
        f"{fmt(run.worst)} s; longest loop block {run.max_block * 1000:.1f} ms at {run.block_at:.1f} s (the loop's "
        f"thread ran {run.block_cpu * 1000:.1f} ms of it; at most {run.max_cpu_block * 1000:.1f} ms between two "
        f"ticks); threads {run.threads_before} before, {run.peak_threads} at peak"
        + (f" (started: {started})" if started else "")
        + f"; {run.full_gcs} full GC(s) during the run"
        + (f" (longest {run.longest_full_gc * 1000:.0f} ms)" if run.full_gcs else "")
        + f"; {run.seconds:.1f} s wall, {run.cpu:.2f} s CPU"
    )


def add_rows(report: c.Report, waits: int, runs: dict[str, Run], interval: float, *, targeted: bool) -> None:
    """The five figures of one N: ours vs thread-per-poll (the ratio), request per wait alongside."""
    ours_run, threads_run, get_run = runs["ours"], runs["thread-per-poll"], runs["request per wait"]

    def row(measure: str, value: Callable[[Run], float], digits: int, target: str, met: bool | None) -> None:
        a, b, g = value(ours_run), value(threads_run), value(get_run)
        report.add(
            c.Row(
                f"{waits:,} waits: {measure}",
                fmt(a, digits),
                f"{fmt(b, digits)} (thread-per-poll); {fmt(g, digits)} (request per wait)",
                c.ratio(a, b) if math.isfinite(a) and math.isfinite(b) else "-",
                target if targeted else "-",
                met if targeted else None,
            )
        )

    limit = interval + 1
    all_fired = not ours_run.unfired and not ours_run.errors
    row("Sinch requests per poll round", lambda r: r.per_round, 1, "<= 10", ours_run.per_round <= 10)
    row(
        "fire latency max (s)",
        lambda r: r.worst if not r.unfired else math.nan,
        2,
        f"<= {limit:g} s (poll + 1 s)",
        all_fired and ours_run.worst <= limit,
    )
    row("fire latency p50 (s)", lambda r: r.p50, 2, "-", None)
    a, b, g = ours_run, threads_run, get_run
    report.add(
        c.Row(
            f"{waits:,} waits: longest loop block, ms wall (loop-thread CPU)",
            f"{a.max_block * 1000:.1f} ({a.max_cpu_block * 1000:.1f})",
            f"{b.max_block * 1000:.1f} ({b.max_cpu_block * 1000:.1f}) (thread-per-poll); "
            f"{g.max_block * 1000:.1f} ({g.max_cpu_block * 1000:.1f}) (request per wait)",
            c.ratio(a.max_block, b.max_block),
            "<= 50 ms" if targeted else "-",
            a.max_block <= MAX_BLOCK if targeted else None,
        )
    )
    started = ours_run.peak_threads - ours_run.threads_before
    row("peak threads", lambda r: r.peak_threads, 0, "no thread per wait", started <= MAX_THREADS_STARTED)


def main(argv: list[str] | None = None) -> int:
    args = c.parse_args(__doc__.splitlines()[0], argv)
    c.setup_env()
    if args.quick:
        sizes: tuple[int, ...] = (20,)
        interval, latency, history = 1.0, 0.05, 500
    else:
        sizes, interval, latency, history = (100, 1000), 5.0, 0.2, 5_000
    report = c.Report(
        "triggers",
        f"(8) Deferred fax waits in one event loop: {', '.join(f'{n:,}' for n in sizes)} waits, "
        f"{latency * 1000:.0f} ms per request, {interval:g} s poll",
    )
    for name in CANDIDATES:  # warm-up: first-use imports and caches stay out of the measured runs
        run_candidate(name, 4, 0.2, 0.0, 0)

    results: dict[int, dict[str, Run]] = {}
    for waits in sizes:
        results[waits] = {}
        for name in CANDIDATES:
            run = run_candidate(name, waits, interval, latency, history)
            results[waits][name] = run
            report.detail(describe(run))

    for waits, runs in results.items():
        add_rows(report, waits, runs, interval, targeted=waits == max(sizes))
    workers = min(32, (os.cpu_count() or 1) + 4)
    steps = ", ".join(f"{2 + BATCH_STEP * k:g}" for k in range(BATCHES))
    report.detail(
        f"fire latency: the simulator process marks the faxes COMPLETED in {BATCHES} batches at {steps} poll "
        "intervals after the waits start and records when each went final; a wait's latency is the time it "
        "fired minus that. Each run starts the waits one per loop iteration, as the triggerer does, after a "
        "warm-up run of every candidate (first-use imports stay out of the figures)"
    )
    report.detail(
        "requests per poll round: the GETs the simulator answered during the run divided by the poll rounds "
        "(ours: FaxWaitPoller.rounds; the others: polls per wait, each wait polling on its own)"
    )
    report.detail(
        f"longest loop block: the largest overshoot of a coroutine sleeping {TICK * 1000:.0f} ms in a loop (wall "
        "time, as the triggerer's own watchdog sees it); in brackets the most CPU time the loop's thread ran "
        "between two of its ticks, what the code costs whatever else the machine runs: a wall block far above it "
        "is the process waiting for a core or, for thread-per-poll, for the GIL"
    )
    report.detail(
        "full GCs: Python's generation-2 collections during a run (gc.callbacks), each a pause of the loop's "
        "thread counted in the longest loop block like any other; every run starts after a gc.collect(), so "
        "no run pays for the garbage of the runs before it"
    )
    report.detail(
        "peak threads: threading.active_count() at each tick, the main thread included; ours' second thread is "
        "the one asgiref keeps for reading a connection from the environment (made by the first read)"
    )
    report.detail(
        f"thread-per-poll polls on asyncio's default executor, {workers} threads here: the threads do not grow "
        f"with N, a round's duration does (N x latency / {workers}). Request per wait keeps at most "
        f"{GET_CONCURRENCY} GETs in flight (httpx's pool size; with all N queued in httpcore's pool a 1,000-wait "
        "round blocked the loop for seconds) and repeats a GET once when the server has closed the idle "
        "keep-alive connection (uvicorn closes them after 5 s, the poll interval)"
    )
    return report.finish(args)


if __name__ == "__main__":
    sys.exit(main())
