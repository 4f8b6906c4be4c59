"""The example apps on a single server: their endpoints, and a clean 503 for every kind of outage."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import Testbed

from ._helpers import APPS, app_settings, served

pytestmark = pytest.mark.timeout(60)

REQUEST_TIMEOUT = 1.5  # the apps' own bound on a request's database work
POOL_TIMEOUT = 0.3


def assert_503(resp: httpx.Response, reason: str | None = None) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "1"
    body = resp.json()
    assert body["error"] == "database unavailable"
    if reason is not None:
        assert reason in body["reason"], body


@pytest.mark.parametrize("app", APPS)
async def test_endpoints(app: str, server_testbed: Testbed) -> None:
    try:
        async with (
            served(app, app_settings(server_testbed, cluster=False)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            created = await asyncio.gather(
                *(client.post("/items", json={"name": f"n{i}"}) for i in range(20))
            )
            assert all(r.status_code == 201 for r in created)
            ids = [r.json()["id"] for r in created]
            assert len(set(ids)) == 20
            for i, item_id in enumerate(ids):
                resp = await client.get(f"/items/{item_id}")
                assert resp.status_code == 200 and resp.json() == {"id": item_id, "name": f"n{i}"}
            assert (await client.get(f"/items/{max(ids) + 1000}")).status_code == 404
            assert (await client.post("/items", json={"name": ""})).status_code in (400, 422)
            assert (await client.post("/items", json={})).status_code in (400, 422)
            health = await client.get("/health")
            assert health.status_code == 200
            stats = health.json()
            assert stats["status"] == "ok" and stats["in_use"] == 0 and 1 <= stats["size"] <= 10
    finally:
        await release_resources()


@pytest.mark.parametrize("app", APPS)
async def test_outages_answer_503_and_the_app_recovers(app: str, server_testbed: Testbed) -> None:
    tb = server_testbed
    settings = app_settings(
        tb, cluster=False, pool_max=1, pool_timeout=POOL_TIMEOUT, request_timeout=REQUEST_TIMEOUT
    )

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/items", json={"name": "x"})

    try:
        async with served(app, settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await post(client)).status_code == 201
            # the pooled connection is reset, then new connections are refused
            tb.net(tb.writer, "reset")
            tb.net(tb.writer, "refuse")
            assert_503(await post(client))  # the pooled connection is gone: discarded
            assert_503(await post(client))  # no new one can be opened
            tb.net(tb.writer, "pass")
            assert (await post(client)).status_code == 201

            # a server that stops answering: bounded by the app's request timeout
            tb.net(tb.writer, "blackhole")
            start = time.monotonic()
            assert_503(await post(client), "TimeoutError")
            assert REQUEST_TIMEOUT <= time.monotonic() - start < REQUEST_TIMEOUT + 3
            tb.net(tb.writer, "pass")
            assert (await post(client)).status_code == 201

            # a slow server and one pooled connection: the waiting request times out in the pool
            tb.net(tb.writer, "delay:300")
            slow, waiting = await asyncio.gather(post(client), post(client))
            assert sorted([slow.status_code, waiting.status_code]) == [201, 503]
            assert_503(slow if slow.status_code == 503 else waiting, "PoolTimeout")
            tb.net(tb.writer, "pass")
            health = await client.get("/health")
            assert health.status_code == 200 and health.json()["size"] == 1
    finally:
        await release_resources()
