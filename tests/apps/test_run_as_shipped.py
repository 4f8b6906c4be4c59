"""The example apps run as shipped under process managers: ``uvicorn --workers 4``, gunicorn with uvicorn's
or aiohttp's worker; module-level ``app``, settings from the environment the testbed CLI prints, one pool per
worker process, through a writer failover."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from awsasyncwrap.testbed import Testbed
from awsasyncwrap.testbed._cli import app_env

from ._helpers import EXAMPLES, free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.cluster]

WORKERS = 4
SERVERS = {
    "uvicorn": (
        ["-m", "uvicorn", "--app-dir", str(EXAMPLES), "fastapi_app:app", "--workers", str(WORKERS)],
        r"Started server process \[(\d+)\]",
    ),
    "gunicorn-uvicorn": (
        [
            "-m",
            "gunicorn",
            "--chdir",
            str(EXAMPLES),
            "-k",
            "uvicorn.workers.UvicornWorker",
            "fastapi_app:app",
        ],
        r"Booting worker with pid: (\d+)",
    ),
    "gunicorn-aiohttp": (
        ["-m", "gunicorn", "--chdir", str(EXAMPLES), "-k", "aiohttp.GunicornWebWorker", "aiohttp_app:app"],
        r"Booting worker with pid: (\d+)",
    ),
}


def _command(server: str, port: int) -> list[str]:
    args, _ = SERVERS[server]
    if server == "uvicorn":
        return [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, *args, "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "15"]


async def _post(client: httpx.AsyncClient, name: str) -> httpx.Response:
    # a new TCP connection per request, so that the workers share them out
    return await client.post("/items", json={"name": name}, headers={"Connection": "close"})


async def _healthy(client: httpx.AsyncClient, proc: asyncio.subprocess.Process, log: Path) -> None:
    while True:
        assert proc.returncode is None, log.read_text()  # noqa: ASYNC240 (the test's own small file)
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("server", list(SERVERS))
async def test_app_under_a_process_manager(server: str, cluster_testbed: Testbed, tmp_path: Path) -> None:
    tb = cluster_testbed
    env = {
        **os.environ,
        # exactly what `python -m awsasyncwrap.testbed env` prints for this testbed
        **app_env(tb.engine, tb.connect_kwargs("cluster"), tb.wrapper_props()),
        "APP_TABLE": f"shipped_{server.replace('-', '_')}_{int(time.time() * 1000) % 10**7}",
        "APP_POOL_MAX": "3",
    }
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *_command(server, port), env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    statuses: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            with anyio.fail_after(90):
                await _healthy(client, proc, log)
            assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")
            created = await asyncio.gather(*(_post(client, f"n{i}") for i in range(40)))
            assert [r.status_code for r in created] == [201] * 40, [r.text for r in created]
            assert len({r.json()["id"] for r in created}) == 40
            healths = await asyncio.gather(
                *(client.get("/health", headers={"Connection": "close"}) for _ in range(40))
            )
            answered = {
                h.json()["pid"] for h in healths
            }  # which worker takes a connection is the kernel's call

            # a writer failover: every worker's pooled connections fail over; never a 500
            await tb.failover()
            ok_in_a_row = 0
            with anyio.fail_after(60):
                while ok_in_a_row < 20:
                    status = (await _post(client, "after")).status_code
                    statuses.append(status)
                    ok_in_a_row = ok_in_a_row + 1 if status == 201 else 0
            assert set(statuses) <= {201, 503}, statuses
        os.killpg(proc.pid, signal.SIGTERM)
        with anyio.fail_after(60):
            await proc.wait()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    text = log.read_text(errors="replace")
    workers = set(map(int, re.findall(SERVERS[server][1], text)))
    assert len(workers) >= WORKERS, text
    assert answered <= workers, (answered, workers)
    assert "Traceback" not in text, text[max(0, text.find("Traceback") - 3000) :]
    if server != "gunicorn-aiohttp":  # each worker ran the lifespan: its own pool opened, and closed
        assert text.count("Application startup complete") >= WORKERS, text
        assert text.count("Application shutdown complete") >= WORKERS, text
