"""Shared helpers of the benchmarks: statistics and a server to run against."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import AsyncIterator, Sequence

from awsasyncwrap.testbed import Testbed


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)


@contextlib.asynccontextmanager
async def single_server(engine: str) -> AsyncIterator[Testbed]:
    """A one-instance testbed server of ``engine`` for the duration of the benchmark."""
    async with Testbed.start(engine, instances=1) as tb:  # type: ignore[arg-type]
        yield tb
