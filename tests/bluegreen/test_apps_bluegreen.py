"""The FastAPI example (our pool) under 30 concurrent HTTP writers through a blue/green switchover."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import httpx
import pytest

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds
from polling import until

from ._app import rows_on

pytestmark = pytest.mark.timeout(180)

CLIENTS = 30


def _settings(bg: BlueGreenDeployment) -> dict[str, Any]:
    tb = bg.blue
    if tb.engine == "postgres":
        dsn = bg.dsn()
    else:
        dsn = f"mysql://{tb.user}:{tb.password}@{bg.host()}:{tb.port}/{tb.database}"
    return {
        "dsn": dsn,
        "plugins": "bg",
        "props": {"monitor_disposal_time_ms": 0, "bg_interval_increased_ms": 300},
        "table": "bg_app_items",
        "pool_max": 10,
        "pool_timeout": 10.0,
        "request_timeout": 15.0,
    }


async def _http_load_through_switchover(bg: BlueGreenDeployment) -> None:
    from apps._helpers import served

    acked: list[tuple[float, float, int]] = []  # started, ended, id
    failures: list[str] = []
    stop = asyncio.Event()

    async def client_loop(client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                resp = await client.post("/items", json={"name": f"w{worker}-{n}"})
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if resp.status_code == 201:
                acked.append((started, time.monotonic(), int(resp.json()["id"])))
            else:
                failures.append(f"{resp.status_code} {resp.text[:200]}")

    try:
        async with served("fastapi", _settings(bg)) as url:
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
            async with httpx.AsyncClient(base_url=url, timeout=20.0, limits=limits) as client:
                workers = [asyncio.create_task(client_loop(client, i)) for i in range(CLIENTS)]
                try:
                    await asyncio.sleep(2.0)  # warm-up: the monitors see the deployment
                    report = await bg.switchover(PhaseSeconds(preparation=1.0, notice=0.3, post=1.0))
                    done = report.completed_at
                    await until(lambda: sum(1 for s, _, _ in acked if s > done) >= 20, timeout=30.0)
                finally:
                    stop.set()
                    with anyio.fail_after(25):
                        await asyncio.gather(*workers)
                health = (await client.get("/health")).json()
    finally:
        await release_resources()
    print(
        f"\n{bg.blue.engine}: {len(acked)} acknowledged, {len(failures)} failed, slowest "
        f"{max(e - s for s, e, _ in acked):.2f} s, retried after the move: {health['failover_retries']}"
    )
    assert failures == []
    green_rows = await rows_on(bg, bg.green.writer, table="bg_app_items")
    blue_rows = await rows_on(bg, bg.blue.writer, table="bg_app_items")
    assert {i for _, _, i in acked} <= green_rows
    late = {i for s, _, i in acked if s > report.promoted_at}
    assert late and not late & blue_rows
    assert any(s > report.completed_at for s, _, _ in acked)


async def test_fastapi_postgres_through_switchover(pg_bluegreen: BlueGreenDeployment) -> None:
    await _http_load_through_switchover(pg_bluegreen)


async def test_fastapi_mariadb_through_switchover(mariadb_bluegreen: BlueGreenDeployment) -> None:
    await _http_load_through_switchover(mariadb_bluegreen)
