"""The time bound of driver connects (drivers/_bound.py): one timer per loop serves every connect, a
connect past its deadline ends with the driver's timeout error, any other cancellation is the caller's."""

from __future__ import annotations

import asyncio
from typing import Any

import pymysql
import pytest

from awsasyncwrap.drivers import AiomysqlDriverDialect, _bound
from awsasyncwrap.hostinfo import HostInfo
from awsasyncwrap.properties import Properties

pytestmark = [
    pytest.mark.timeout(20),
    pytest.mark.skipif(not _bound.supported, reason="Python 3.10 bounds connects with anyio"),
]


class Conn:
    closed = False


def target(delay: float) -> Any:
    async def connect(**kwargs: Any) -> Conn:
        await asyncio.sleep(delay)
        return Conn()

    return connect


async def bounded(delay: float, limit: float) -> Any:
    props = Properties({"host": "h", "wrapper_connect_timeout_sec": limit})
    return await AiomysqlDriverDialect().connect_bounded(target(delay), HostInfo("h", 3306), props)


def test_a_connect_past_its_bound_raises_the_drivers_timeout_error() -> None:
    async def main() -> None:
        with pytest.raises(pymysql.err.OperationalError, match=r"timed out after 0\.05 s"):
            await bounded(10, 0.05)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # type: ignore[attr-defined]  # 3.11+
        assert isinstance(await bounded(0, 5), Conn)  # the loop's watch still works after
        watch = _bound.bound_of(asyncio.get_running_loop())
        assert not watch.entries

    asyncio.run(main())


def test_one_timer_serves_connects_of_different_bounds() -> None:
    async def main() -> None:
        long = asyncio.ensure_future(bounded(0.2, 5))
        short = asyncio.ensure_future(bounded(10, 0.05))
        other = asyncio.ensure_future(bounded(10, 0.1))
        with pytest.raises(pymysql.err.OperationalError):
            await short
        with pytest.raises(pymysql.err.OperationalError):
            await other
        assert isinstance(await long, Conn)
        assert not _bound.bound_of(asyncio.get_running_loop()).entries

    asyncio.run(main())


def test_the_callers_cancellation_is_not_a_timeout() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(bounded(10, 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _bound.bound_of(asyncio.get_running_loop()).entries

    asyncio.run(main())


def test_each_loop_has_its_own_watch() -> None:
    async def watch() -> object:
        await bounded(0, 5)
        return _bound.bound_of(asyncio.get_running_loop())

    assert asyncio.run(watch()) is not asyncio.run(watch())
