"""``_tasks``: named, owned tasks; waiting for a group within a time; reporting a task that died."""

from __future__ import annotations

import asyncio
import logging

import pytest

from awsasyncwrap._tasks import TASK_PREFIX, cancel_and_wait, gather_within, log_death, spawn, survive

pytestmark = pytest.mark.timeout(10)

log = logging.getLogger("tests.tasks")


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fail() -> None:
    raise ValueError("boom")


async def test_spawn_names_the_task_and_its_owner_holds_it_until_it_ends() -> None:
    owner: set[asyncio.Task[None]] = set()
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()

    task = spawn(work(), f"{TASK_PREFIX}test:one", owner)
    assert task.get_name() == "awsasyncwrap:test:one"
    assert owner == {task}
    release.set()
    await task
    assert owner == set()


async def test_spawn_on_a_given_loop_without_owner() -> None:
    task = spawn(asyncio.sleep(0, "done"), "plain", loop=asyncio.get_running_loop())
    assert task.get_name() == "plain"
    assert await task == "done"


async def test_log_death_reports_an_error_not_a_cancellation(caplog: pytest.LogCaptureFixture) -> None:
    died = spawn(_fail(), "dies")
    cancelled = spawn(_forever(), "cancelled")
    for task in (died, cancelled):
        task.add_done_callback(log_death(log))
    cancelled.cancel()
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        assert await gather_within([died, cancelled], 2) == set()
    assert [r.getMessage() for r in caplog.records] == ["background task dies died: ValueError('boom')"]


async def test_survive_logs_an_error_and_lets_cancellation_pass(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tests.tasks"), survive(log, "step %s failed", 3):
        raise ValueError("boom")
    assert [r.getMessage() for r in caplog.records] == ["step 3 failed"]
    assert caplog.records[0].exc_info is not None
    with pytest.raises(asyncio.CancelledError), survive(log, "never"):
        raise asyncio.CancelledError


async def test_gather_within_returns_the_tasks_still_running_and_reads_errors() -> None:
    slow = spawn(_forever(), "slow")
    failed = spawn(_fail(), "failed")
    quick = spawn(asyncio.sleep(0), "quick")
    try:
        assert await gather_within([slow, failed, quick], 0.05) == {slow}
        assert not slow.done()  # waiting with a limit never cancels
        assert isinstance(failed.exception(), ValueError)
        assert await gather_within([], 0.05) == set()
    finally:
        assert await cancel_and_wait([slow], 2) == set()
    assert slow.cancelled()


async def test_a_cancelled_caller_stops_waiting_not_the_tasks() -> None:
    slow = spawn(_forever(), "slow")
    waiter = spawn(gather_within([slow], None), "waiter")
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not slow.done()
    assert await cancel_and_wait([slow], 2) == set()


async def test_cancel_and_wait_reports_a_task_that_will_not_stop() -> None:
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await stop.wait()
            except asyncio.CancelledError:
                continue  # swallows it: the owner must not hang on it

    task = spawn(stubborn(), "stubborn")
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], 0.05) == {task}
    stop.set()
    assert await gather_within([task], 2) == set()
