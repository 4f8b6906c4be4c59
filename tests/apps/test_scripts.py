"""The example apps run as documented: as scripts, configured from the environment and the command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import anyio
import httpx
import pytest

from awsasyncwrap.testbed import Testbed

from ._helpers import APPS, EXAMPLES, app_settings, free_port

pytestmark = pytest.mark.timeout(60)


async def wait_healthy(client: httpx.AsyncClient, proc: asyncio.subprocess.Process) -> None:
    """Poll GET /health until it answers 200 (the script imports, opens its pool, listens)."""
    while True:
        assert proc.returncode is None, "the app exited"
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("app", APPS)
async def test_script_serves_and_stops_on_sigterm(app: str, server_testbed: Testbed) -> None:
    settings: dict[str, Any] = app_settings(server_testbed, cluster=False)
    port = free_port()
    env = {
        **os.environ,
        "APP_DSN": settings["dsn"],
        "APP_WRAPPER_PROPS": json.dumps(settings["props"]),
        "APP_TABLE": settings["table"],
    }
    # the default plugins (failover, host_monitoring) stay passive on a plain server
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / f"{app}_app.py"),
        "--port",
        str(port),
        "--pool-max",
        "3",
        "--log-level",
        "info",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = b""
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            with anyio.fail_after(30):
                await wait_healthy(client, proc)
            created = await client.post("/items", json={"name": "from a script"})
            assert created.status_code == 201
            item = created.json()
            assert (await client.get(f"/items/{item['id']}")).json() == item
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode(errors="replace")
    assert "Traceback" not in text, text
    assert settings["dsn"] not in text  # the app never logs its DSN
    if app == "fastapi":
        assert "Application shutdown complete" in text, text  # uvicorn ran the lifespan's shutdown
    else:
        assert proc.returncode == 0, text  # aiohttp ran the cleanup_ctx and exited normally


@pytest.mark.parametrize("app", APPS)
async def test_script_without_dsn_explains(app: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / f"{app}_app.py"), env=env, stderr=asyncio.subprocess.PIPE
    )
    with anyio.fail_after(30):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"no DSN: pass --dsn or set APP_DSN" in err
