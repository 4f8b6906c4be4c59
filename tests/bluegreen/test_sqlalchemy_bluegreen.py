"""SQLAlchemy's async engine (its own pool) through a blue/green switchover with the ``bg`` plugin."""

from __future__ import annotations

import asyncio
import logging

import pytest

from awsasyncwrap import FailoverError, release_resources
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds

from ._app import rows_on

pytestmark = pytest.mark.timeout(180)


async def _engine_through_switchover(bg: BlueGreenDeployment, caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    import awsasyncwrap.sqlalchemy as aws_sa

    aws_sa.register()
    tb = bg.blue
    if tb.engine == "postgres":
        url = f"postgresql+awsasyncwrap_psycopg://{tb.user}@{bg.host()}:{tb.port}/{tb.database}"
    else:
        url = f"mysql+awsasyncwrap_aiomysql://{tb.user}:{tb.password}@{bg.host()}:{tb.port}/{tb.database}"
    engine = create_async_engine(
        url, pool_size=5, connect_args={"plugins": "bg", "bg_interval_increased_ms": 300}
    )
    acked: list[int] = []
    errors: list[str] = []
    stop = asyncio.Event()
    counter = [0]

    async def worker() -> None:
        while not stop.is_set():
            counter[0] += 1
            row = counter[0]
            for _ in range(3):
                try:
                    async with engine.begin() as conn:
                        await conn.execute(text("INSERT INTO bg_sa (id) VALUES (:i)"), {"i": row})
                    acked.append(row)
                    break
                except Exception as exc:
                    if isinstance(getattr(exc, "orig", None), FailoverError):
                        continue  # moved to green: run the transaction again
                    errors.append(repr(exc)[:300])
                    break

    caplog.set_level(logging.ERROR, logger="sqlalchemy.pool")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE bg_sa (id int PRIMARY KEY)"))
        workers = [asyncio.create_task(worker()) for _ in range(5)]
        try:
            await asyncio.sleep(1.5)
            await bg.switchover(PhaseSeconds(preparation=1.0, notice=0.3, post=1.0))
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            await asyncio.gather(*workers)
    finally:
        await engine.dispose()
        await release_resources()
    assert errors == []
    assert set(acked) <= await rows_on(bg, bg.green.writer, table="bg_sa")
    # returning a moved connection to the pool (its reset rollback) is quiet
    assert not [r for r in caplog.records if "reset" in r.getMessage()]


async def test_sqlalchemy_postgres_through_switchover(
    pg_bluegreen: BlueGreenDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    await _engine_through_switchover(pg_bluegreen, caplog)


async def test_sqlalchemy_mariadb_through_switchover(
    mariadb_bluegreen: BlueGreenDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    await _engine_through_switchover(mariadb_bluegreen, caplog)
