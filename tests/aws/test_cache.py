"""The single-flight expiring cache (pure logic, no AWS)."""

from __future__ import annotations

import asyncio

import pytest

from awsasyncwrap.aws import ExpiringCache

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_gets_share_one_fetch() -> None:
    cache: ExpiringCache[str] = ExpiringCache("t")
    gate = asyncio.Event()
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "v", 60.0

    tasks = [asyncio.create_task(cache.get("k", fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1 and {r.value for r in results} == {"v"} and all(r.fresh for r in results)
    again = await cache.get("k", fetch)
    assert (again.value, again.fresh, calls) == ("v", False, 1)
    assert cache.stats.fetches == 1 and cache.stats.hits == 1


async def test_cancelled_fetcher_hands_over_to_a_waiter() -> None:
    cache: ExpiringCache[str] = ExpiringCache("t")
    first_started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        if calls == 1:
            first_started.set()
            await asyncio.Event().wait()  # hangs until cancelled
        await release.wait()
        return f"v{calls}", 60.0

    leader = asyncio.create_task(cache.get("k", fetch))
    await first_started.wait()
    follower = asyncio.create_task(cache.get("k", fetch))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    release.set()
    assert (await asyncio.wait_for(follower, 5)).value == "v2"  # not cancelled: it fetched itself
    assert calls == 2


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache: ExpiringCache[str] = ExpiringCache("t")
    gate = asyncio.Event()

    async def failing() -> tuple[str, float]:
        await gate.wait()
        raise LookupError("nope")

    tasks = [asyncio.create_task(cache.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)

    async def working() -> tuple[str, float]:
        return "ok", 60.0

    assert (await cache.get("k", working)).value == "ok"


async def test_expiry_max_age_and_stale_values() -> None:
    clock = Clock()
    cache: ExpiringCache[str] = ExpiringCache("t", clock)
    values = iter(["val-a", "val-b", "val-c", "val-d"])

    async def fetch() -> tuple[str, float]:
        return next(values), 100.0

    assert (await cache.get("k", fetch)).value == "val-a"
    clock.now += 99
    assert (await cache.get("k", fetch)).value == "val-a"
    assert (await cache.get("k", fetch, max_age=50)).value == "val-b"  # a caller that wants younger values
    clock.now += 101
    assert (await cache.get("k", fetch)).value == "val-c"  # expired
    assert (await cache.get("k", fetch, stale="x")).value == "val-c"  # someone else already replaced 'x'
    assert (await cache.get("k", fetch, stale="val-c")).value == "val-d"  # the value found not to work
    assert "val-" not in repr(cache)
