"""An app writing through a blue/green switchover: workers inserting rows with the failover retry pattern."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from awsasyncwrap import AsyncAwsConnection, FailoverError
from awsasyncwrap.plugins.blue_green import Phase, status_services
from awsasyncwrap.testbed import BlueGreenDeployment, Instance
from polling import until

TABLE = "bg_items"


@dataclass
class Call:
    """One request of the app: an insert, retried on the documented failover errors."""

    row: int
    start: float
    end: float = 0.0
    retries: int = 0
    error: str | None = None


@dataclass
class WriterApp:
    deployment: BlueGreenDeployment
    workers: int = 4
    plugins: str = "bg"
    props: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    acknowledged: set[int] = field(default_factory=set)
    conns: list[Any] = field(default_factory=list)
    _next: int = 0

    @property
    def engine(self) -> str:
        return self.deployment.blue.engine

    async def connect(self) -> Any:
        bg = self.deployment
        extra = {"plugins": self.plugins, "autocommit": True, **self.props}
        if self.engine == "postgres":
            import psycopg

            return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, bg.dsn(), **extra)
        import aiomysql

        return await AsyncAwsConnection.connect(aiomysql.connect, **bg.connect_kwargs(), **extra)

    async def prepare(self) -> None:
        """Create the table (through the blue cluster name) and open the workers' connections."""
        conn = await self.connect()
        try:
            cur = conn.cursor() if self.engine == "postgres" else await conn.cursor()
            await cur.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY)")
        finally:
            await conn.close()
        self.conns = [await self.connect() for _ in range(self.workers)]

    def _insert_sql(self) -> str:
        if self.engine == "postgres":
            return f"INSERT INTO {TABLE} (id) VALUES (%s) ON CONFLICT DO NOTHING"
        return f"INSERT IGNORE INTO {TABLE} (id) VALUES (%s)"

    async def _insert(self, conn: Any, call: Call) -> None:
        sql = self._insert_sql()
        for attempt in range(5):
            try:
                cur = conn.cursor() if self.engine == "postgres" else await conn.cursor()
                await cur.execute(sql, (call.row,))
                return
            except FailoverError:  # the documented pattern: the connection moved, run it again
                call.retries = attempt + 1
        raise RuntimeError("moved 5 times in a row")

    async def _write(self, conn: Any, call: Call) -> None:
        """One request of a worker (a pool-based app takes a connection from its pool here)."""
        await self._insert(conn, call)

    async def _worker(self, conn: Any) -> None:
        while True:
            self._next += 1
            call = Call(self._next, time.monotonic())
            self.calls.append(call)
            try:
                await self._write(conn, call)
            except Exception as exc:
                call.error = f"{type(exc).__name__}: {exc}"
            else:
                self.acknowledged.add(call.row)
            call.end = time.monotonic()
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The workers write while the block runs."""
        async with anyio.create_task_group() as tg:
            for conn in self.conns:
                tg.start_soon(self._worker, conn)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def wait_rows(self, count: int) -> None:
        """Wait (at most 30 s) until ``count`` more rows were acknowledged."""
        target = len(self.acknowledged) + count
        await until(lambda: len(self.acknowledged) >= target, timeout=30.0)

    async def aclose(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(Exception):
                await conn.close()

    @property
    def errors(self) -> list[str]:
        return [c.error for c in self.calls if c.error]


async def wait_phase(phase: Phase, *, with_ips: bool = True) -> None:
    """Wait (at most 10 s) until the only status service reports ``phase`` (and has the IPs)."""

    def reached() -> bool:
        services = status_services()
        return bool(services and services[0].state.phase is phase and (services[0].state.ips or not with_ips))

    await until(reached, timeout=10.0)


async def rows_on(deployment: BlueGreenDeployment, inst: Instance, table: str = TABLE) -> set[int]:
    """The ids in ``table`` on one node (straight to its server, no proxy)."""
    tb = deployment.blue if inst in deployment.blue.instances else deployment.green
    if tb.engine == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as conn:
            cur = await conn.execute(f"SELECT id FROM {table}")
            return {r[0] for r in await cur.fetchall()}
    import aiomysql

    conn = await aiomysql.connect(**tb.connect_kwargs(inst, direct=True), autocommit=True)
    try:
        cur = await conn.cursor()
        await cur.execute(f"SELECT id FROM {table}")
        return {r[0] for r in await cur.fetchall()}
    finally:
        conn.close()
