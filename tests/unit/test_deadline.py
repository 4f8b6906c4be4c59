"""``_deadline``: aborting after a time, bounded runs, waiting for an event, closing quietly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from awsasyncwrap._deadline import (
    AbortAfter,
    DeadlineExceeded,
    abort_after,
    close_quietly,
    run_bounded,
    wait_set,
)

pytestmark = pytest.mark.timeout(10)


async def test_watchdog_fires_once_and_can_be_brought_forward() -> None:
    fired: list[Any] = []
    done = asyncio.Event()

    def abort(conn: Any) -> None:
        fired.append(conn)
        done.set()

    watch = AbortAfter(30.0, abort, "conn")
    watch.bring_forward(0.01)
    watch.bring_forward(5.0)  # never later again
    assert await wait_set(done, 2)
    assert fired == ["conn"]
    assert watch.fired
    cancelled = AbortAfter(0.01, abort, "other")
    cancelled.cancel()
    cancelled.bring_forward(0.0)  # a cancelled watchdog stays cancelled
    assert cancelled._handle.cancelled()
    assert not cancelled.fired


async def test_abort_after_is_cancelled_when_the_block_ends() -> None:
    fired: list[Any] = []
    with abort_after(0.01, fired.append, "quick") as quick:
        pass
    with abort_after(0.01, fired.append, "slow") as slow:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.03)
    assert fired == ["slow"]
    assert slow.fired and not quick.fired


async def test_wait_set() -> None:
    event = asyncio.Event()
    started = time.monotonic()
    assert not await wait_set(event, 0.02)
    assert time.monotonic() - started >= 0.015
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5)
    assert await wait_set(event, 0)  # already set


async def test_wait_set_passes_the_callers_cancellation() -> None:
    waiter = asyncio.ensure_future(wait_set(asyncio.Event(), 5))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_run_bounded_returns_the_result() -> None:
    assert await run_bounded(asyncio.sleep(0, 7), time.monotonic() + 5, lambda _t: None, "quick") == 7


async def test_run_bounded_expires_with_on_expiry_first() -> None:
    ended = asyncio.Event()

    async def call() -> None:
        await ended.wait()
        raise ConnectionError("socket shut down")  # what an aborted driver call raises

    expired: list[str] = []

    def on_expiry(task: asyncio.Task[None]) -> None:
        expired.append(task.get_name())
        ended.set()

    with pytest.raises(DeadlineExceeded):
        await run_bounded(call(), time.monotonic() + 0.02, on_expiry, "stuck")
    assert expired == ["stuck"]
    assert isinstance(DeadlineExceeded(), TimeoutError)


async def test_run_bounded_cancels_a_child_that_ignores_on_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    import awsasyncwrap._deadline as deadline

    monkeypatch.setattr(deadline, "STOP_GRACE", 0.02)
    child: list[asyncio.Task[None]] = []

    async def call() -> None:
        await asyncio.Event().wait()

    with pytest.raises(DeadlineExceeded):
        await run_bounded(call(), time.monotonic() + 0.01, child.append, "deaf")
    assert child[0].cancelled()


async def test_run_bounded_on_cancellation_of_the_caller() -> None:
    ended = asyncio.Event()
    expired: list[asyncio.Task[None]] = []

    def on_expiry(task: asyncio.Task[None]) -> None:
        expired.append(task)
        ended.set()

    async def call() -> None:
        await ended.wait()

    caller = asyncio.ensure_future(run_bounded(call(), time.monotonic() + 5, on_expiry, "call"))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert len(expired) == 1 and expired[0].done()


class _Driver:
    def __init__(self, close_takes: float = 0.0, fails: bool = False) -> None:
        self.close_takes = close_takes
        self.fails = fails
        self.closed: list[str] = []

    def is_closed(self, conn: Any) -> bool:
        return bool(conn == "gone")

    async def close(self, conn: Any) -> None:
        await asyncio.sleep(self.close_takes)
        if self.fails:
            raise ConnectionError("broken")
        self.closed.append(f"polite:{conn}")

    def close_now(self, conn: Any) -> None:
        self.closed.append(f"now:{conn}")


async def test_close_quietly() -> None:
    polite = _Driver()
    await close_quietly(polite, "c")
    await close_quietly(polite, "gone")
    assert polite.closed == ["polite:c"]
    failing = _Driver(fails=True)
    await close_quietly(failing, "c")
    assert failing.closed == ["now:c"]
    slow = _Driver(close_takes=5)
    started = time.monotonic()
    await close_quietly(slow, "c", 0.02)
    assert time.monotonic() - started < 2
    assert slow.closed == ["now:c"]


async def test_close_quietly_drops_the_connection_when_cancelled() -> None:
    slow = _Driver(close_takes=5)
    closing = asyncio.ensure_future(close_quietly(slow, "c"))
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert slow.closed == ["now:c"]
