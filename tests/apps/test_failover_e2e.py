"""The example apps, served for real, under concurrent HTTP writes through a writer failover.

Every request either succeeds (201 with the new row's id) or gets a clean 503 with Retry-After, none
outlives the failover budget, writes succeed again after the failover, every acknowledged write is
on the new writer afterwards, and no write landed twice (each request's name is its idempotency key:
the app runs a statement again only after ``FailoverSuccessError``, which says it never reached the
server).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import FailoverReport, Testbed

from ._helpers import APPS, app_settings, served

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

CLIENTS = 30  # concurrent HTTP clients
BUDGET = 20.0  # seconds: no request may take longer (failover included)
WARMUP_ACKS = 100  # acknowledged writes before the failover
RECOVERED_ACKS = 100  # acknowledged writes started after the failover, before the load stops
BACKOFF = 0.1  # seconds a client waits after a 503 (it honours Retry-After, capped for the test)


@dataclass(frozen=True)
class Outcome:
    name: str
    started: float
    ended: float
    status: int | None = None  # None: the request itself failed (connection error, timeout)
    item_id: int | None = None
    retry_after: str | None = None
    error: str | None = None

    @property
    def duration(self) -> float:
        return self.ended - self.started


@dataclass
class LoadRun:
    """What one load-through-failover run saw."""

    app: str
    tb: Testbed
    outcomes: list[Outcome] = field(default_factory=list)
    t_failover: float = 0.0  # tb.failover() called
    t_done: float = 0.0  # tb.failover() returned
    report: FailoverReport | None = None
    health: dict[str, Any] = field(default_factory=dict)  # GET /health after the run
    rows: dict[int, str] = field(default_factory=dict)  # the table on the new writer

    @property
    def duplicates(self) -> int:
        """Rows beyond the first of each name: writes that landed twice."""
        return len(self.rows) - len(set(self.rows.values()))

    @property
    def lost(self) -> list[Outcome]:
        """Acknowledged writes missing on the new writer."""
        return [o for o in self.acked if self.rows.get(o.item_id or -1) != o.name]

    def acked_since(self, t: float) -> int:
        return sum(1 for o in self.outcomes if o.status == 201 and o.started > t)

    @property
    def acked(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 201]

    @property
    def unavailable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 503]

    def summary(self) -> str:
        window = (
            f"503s from +{min(o.ended for o in self.unavailable) - self.t_failover:.2f} s "
            f"to +{max(o.ended for o in self.unavailable) - self.t_failover:.2f} s; "
            if self.unavailable
            else ""
        )
        assert self.report is not None
        return (
            f"{self.app}/{self.tb.engine}: {len(self.outcomes)} requests, {len(self.acked)} acknowledged, "
            f"{len(self.unavailable)} x 503; tb.failover() {self.t_done - self.t_failover:.2f} s "
            f"({self.report.old_writer} -> {self.report.new_writer}); {window}"
            f"slowest request {max(o.duration for o in self.outcomes):.2f} s; "
            f"statements retried after failover: {self.health['failover_retries']}; "
            f"rows {len(self.rows)}, duplicates {self.duplicates}, lost {len(self.lost)}"
        )

    def check(self) -> None:
        """The assertions every run must pass."""
        outcomes, unavailable = self.outcomes, self.unavailable
        print("\n" + self.summary())
        # no request failed at the HTTP level, none hung, none got anything but 201 or a clean 503
        assert not [o for o in outcomes if o.error is not None], [o for o in outcomes if o.error][:5]
        assert max(o.duration for o in outcomes) < BUDGET
        assert all(o.retry_after is not None for o in unavailable)
        # 503s only around the failover: none before it, none started later than the budget after it
        assert all(self.t_failover <= o.ended and o.started <= self.t_done + BUDGET for o in unavailable)
        # requests in flight met the failover: retried once on the moved connection, or answered 503
        assert self.health["failover_retries"] + len(unavailable) > 0
        assert self.acked_since(self.t_done) >= RECOVERED_ACKS
        # /health answers from the new writer (by instance id, or by the cluster endpoint for connections
        # the pool opened there after the failover)
        assert self.report is not None and self.health["status"] == "ok"
        endpoint = "{}:{}".format(*self.tb.cluster_endpoint)
        assert self.health["host"] in (self.report.new_writer, endpoint)
        # every acknowledged write is on the new writer
        lost = self.lost
        during = [o for o in lost if o.ended >= self.t_failover and o.started <= self.t_done]
        assert not lost, (
            f"{len(lost)} acknowledged writes missing on the new writer "
            f"({len(during)} acknowledged while tb.failover() ran): {lost[:5]}"
        )
        # and none landed twice: a statement is run again only when it surely never reached the server
        twice = sorted(n for n in set(self.rows.values()) if list(self.rows.values()).count(n) > 1)
        assert self.duplicates == 0, f"{self.duplicates} write(s) landed twice: {twice[:5]}"


@pytest.mark.parametrize("app", APPS)
async def test_writes_through_writer_failover(app: str, cluster_testbed: Testbed) -> None:
    """A normal failover: requests in flight are retried once on the moved connection."""
    tb = cluster_testbed
    run = await load_through_failover(app, tb, lambda: tb.failover(), failover_timeout_sec=BUDGET - 8)
    run.check()


@pytest.mark.parametrize(
    ("app", "cluster_testbed"),
    [("fastapi", "postgres"), ("aiohttp", "mariadb")],
    indirect=["cluster_testbed"],
)
async def test_failover_slower_than_its_timeout_answers_503_then_recovers(
    app: str, cluster_testbed: Testbed
) -> None:
    """No writer for longer than failover_timeout_sec: clean 503s while there is none, then 201s again."""
    tb = cluster_testbed
    run = await load_through_failover(app, tb, lambda: tb.failover(delay=2.5), failover_timeout_sec=1.0)
    run.check()
    assert run.unavailable, "no request saw the writer missing"
    assert {o.retry_after for o in run.unavailable} == {"1"}


async def load_through_failover(
    app: str, tb: Testbed, failover: Callable[[], Awaitable[FailoverReport]], **props: Any
) -> LoadRun:
    """Serve ``app`` on ``tb``'s cluster endpoint, write with CLIENTS clients, ``failover()`` midway."""
    settings = app_settings(tb, cluster=True, pool_max=10, pool_timeout=10.0, request_timeout=BUDGET - 5)
    settings["props"].update(props)
    run = LoadRun(app, tb)
    warmed_up, recovered, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def client_loop(client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while not stop.is_set():
            name = f"w{worker}-{n}"
            n += 1
            started = time.monotonic()
            try:
                resp = await client.post("/items", json={"name": name})
            except httpx.HTTPError as exc:
                run.outcomes.append(Outcome(name, started, time.monotonic(), error=repr(exc)))
                continue
            ended = time.monotonic()
            body: dict[str, Any] = resp.json() if _is_json(resp) else {}
            ok = resp.status_code == 201 and body.get("name") == name
            run.outcomes.append(
                Outcome(
                    name,
                    started,
                    ended,
                    status=resp.status_code,
                    item_id=body.get("id") if ok else None,
                    retry_after=resp.headers.get("retry-after"),
                    error=None if ok or resp.status_code == 503 else f"{resp.status_code} {resp.text[:300]}",
                )
            )
            if run.acked_since(0) >= WARMUP_ACKS:
                warmed_up.set()
            if run.t_done and run.acked_since(run.t_done) >= RECOVERED_ACKS:
                recovered.set()
            if resp.status_code == 503:  # back off as Retry-After asks (capped: the test has no time)
                await asyncio.sleep(min(float(resp.headers.get("retry-after", BACKOFF)), BACKOFF))

    try:
        async with served(app, settings) as url:
            await tb.wait_replicated()  # the app's table exists on every instance
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
            async with httpx.AsyncClient(base_url=url, timeout=BUDGET, limits=limits) as client:
                workers = [asyncio.create_task(client_loop(client, i)) for i in range(CLIENTS)]
                try:
                    with anyio.fail_after(30):
                        await warmed_up.wait()
                    run.t_failover = time.monotonic()
                    run.report = await failover()
                    run.t_done = time.monotonic()
                    with anyio.fail_after(BUDGET + 10):
                        await recovered.wait()
                finally:
                    stop.set()
                    with anyio.fail_after(BUDGET + 5):
                        await asyncio.gather(*workers)
                run.health = (await client.get("/health")).json()
                before = [o for o in run.acked if o.ended < run.t_failover][:20]
                for o in before:  # rows written before the failover read back through the app
                    resp = await client.get(f"/items/{o.item_id}")
                    assert resp.status_code == 200 and resp.json() == {"id": o.item_id, "name": o.name}
        run.rows = await rows_on_writer(tb, settings["table"])
    finally:
        await release_resources()
    return run


async def rows_on_writer(tb: Testbed, table: str) -> dict[int, str]:
    """Every row of ``table``, read on the current writer directly (no wrapper, no proxy)."""
    sql = f"SELECT id, name FROM {table}"
    if tb.engine == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(tb.dsn(tb.writer, direct=True)) as conn:
            cur = await conn.execute(sql)
            return {int(i): str(n) for i, n in await cur.fetchall()}
    import aiomysql

    conn = await aiomysql.connect(**tb.connect_kwargs(tb.writer, direct=True))
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return {int(i): str(n) for i, n in await cur.fetchall()}
    finally:
        conn.close()


def _is_json(resp: httpx.Response) -> bool:
    return bool(resp.headers.get("content-type", "").startswith("application/json"))
