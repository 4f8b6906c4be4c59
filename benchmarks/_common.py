"""Shared helpers of the benchmarks: statistics, a server to run against, the timing loop, cleanup."""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import Testbed

Op = Callable[[], Awaitable[Any]]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """A command-line parser whose ``--help`` shows the benchmark's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def engines(choice: str) -> list[str]:
    """The engines of an ``--engine postgres|mariadb|both`` choice."""
    return ["postgres", "mariadb"] if choice == "both" else [choice]


@contextlib.asynccontextmanager
async def single_server(engine: str) -> AsyncIterator[Testbed]:
    """A one-instance testbed server of ``engine`` for the duration of the benchmark."""
    async with Testbed.start(engine, instances=1) as tb:  # type: ignore[arg-type]
        yield tb


def aurora_props(tb: Testbed) -> dict[str, Any]:
    """Wrapper properties of an Aurora user connecting to instance 1 of a one-instance testbed directly.

    ``tb.wrapper_props()`` with the host pattern ``127.0.0.?:<port>``: the testbed names its instances
    "1".."N", so instance 1 maps to the server itself (no fault proxy on the path, the same address the raw
    driver uses).
    """
    assert len(tb.instances) == 1, "the pattern maps instance 1 only"
    return {**tb.wrapper_props(), "cluster_instance_host_pattern": f"127.0.0.?:{tb.writer.node_port}"}


def select_1_op(cur: Any) -> Op:
    """One op: ``execute("SELECT 1")`` + ``fetchone()`` on the held cursor ``cur``."""

    async def op() -> Any:
        await cur.execute("SELECT 1")
        return await cur.fetchone()

    return op


async def measure(
    ops: dict[str, Op],
    n_ops: int,
    block: int,
    *,
    warmup: int = 200,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Per-op latencies (µs) of every variant: ``n_ops`` each, run in shuffled blocks of ``block`` ops.

    First ``warmup`` unmeasured ops of each variant; no garbage collection while measuring. ``cpu``: also
    append, per block, this thread's CPU time per op (µs: driver, wrapper, event loop, syscalls; no server,
    no waiting) to ``cpu[label]``.
    """
    samples: dict[str, list[float]] = {label: [] for label in ops}
    for op in ops.values():
        for _ in range(warmup):
            await op()
    labels = list(ops)
    clock = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    gc.collect()
    gc.disable()
    try:
        for _ in range(max(1, n_ops // block)):
            random.shuffle(labels)
            for label in labels:
                op, out = ops[label], samples[label]
                cpu_start = cpu_clock()
                for _ in range(block):
                    start = clock()
                    await op()
                    out.append((clock() - start) / 1000)
                if cpu is not None:
                    cpu.setdefault(label, []).append((cpu_clock() - cpu_start) / 1000 / block)
    finally:
        gc.enable()
    return samples


async def close_one(conn: Any) -> None:
    """Close a connection (raw driver or wrapped) and wait for it: the wrapped aiomysql connection's
    ``close()`` returns its release task, awaited so that its work is not timed in some later measurement."""
    result = conn.close()
    if inspect.isawaitable(result):
        await result


async def close_all(closers: Sequence[Any]) -> None:
    """Close every connection (raw driver or wrapped), then stop the wrapper's monitors."""
    for conn in closers:
        await close_one(conn)
    await release_resources()
