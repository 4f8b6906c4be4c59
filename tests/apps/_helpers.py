"""Serving the example apps inside the test's event loop, on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

from awsasyncwrap.testbed import Testbed

__all__ = [
    "APPS",
    "EXAMPLES",
    "app_settings",
    "free_port",
    "load_example",
    "served",
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPS = ("fastapi", "aiohttp")

_tables = itertools.count(1)


def load_example(app: str) -> ModuleType:
    """``examples/<app>_app.py`` as a module (imported once), with ``examples`` on ``sys.path`` as when it
    runs as a script (it imports ``items_store``, its database layer)."""
    name = f"awsasyncwrap_examples_{app}_app"
    if name in sys.modules:
        return sys.modules[name]
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{app}_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def app_settings(tb: Testbed, *, cluster: bool, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of the example apps' ``Settings`` for ``tb`` (its cluster endpoint or writer).

    A fresh table per call. ``cluster``: the failover plugin with the testbed's host pattern;
    otherwise a plain server (no plugins).
    """
    target = "cluster" if cluster else tb.writer
    host, port = tb.address_of(target)
    props: dict[str, Any] = {"monitor_disposal_time_ms": 0}
    host_pattern = None
    if cluster:
        aurora = tb.wrapper_props()
        host_pattern = aurora.pop("cluster_instance_host_pattern")  # the apps' setting of its own
        props.update(aurora)
    else:
        props["wrapper_dialect"] = "pg" if tb.engine == "postgres" else "mariadb"
    if tb.engine == "postgres":
        dsn = tb.dsn(target)
    else:
        dsn = f"mysql://{tb.user}:{tb.password}@{host}:{port}/{tb.database}"
    settings: dict[str, Any] = {
        "dsn": dsn,
        "plugins": "failover" if cluster else "",
        "host_pattern": host_pattern,
        "props": props,
        "table": f"app_items_{int(time.time() * 1000) % 10_000_000}_{next(_tables)}",
    }
    settings.update(overrides)
    return settings


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def served(app: str, settings: dict[str, Any]) -> AsyncIterator[str]:
    """Serve example ``app`` ("fastapi": uvicorn, "aiohttp": aiohttp's runner) in this loop; its base URL."""
    module = load_example(app)
    serve = _serve_fastapi if app == "fastapi" else _serve_aiohttp
    async with serve(module, module.Settings(**settings)) as url:
        yield url


@contextlib.asynccontextmanager
async def _serve_fastapi(module: ModuleType, settings: Any) -> AsyncIterator[str]:
    import uvicorn

    class Server(uvicorn.Server):
        ready = asyncio.Event()

        @contextlib.contextmanager
        def capture_signals(self) -> Any:  # leave the test process's signal handlers alone
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            self.ready.set()  # lifespan done (the pool is open), listening

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's answer to a failed lifespan startup
            raise RuntimeError(f"uvicorn exited with {exc.code}: the app did not start") from None

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        module.create_app(settings), lifespan="on", log_config=None, access_log=False, log_level="warning"
    )
    server = Server(config)
    task = asyncio.create_task(run(), name="uvicorn")
    try:
        ready = asyncio.create_task(server.ready.wait())
        try:
            with anyio.fail_after(30):
                await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if task.done():
            task.result()
            raise AssertionError("uvicorn stopped at startup")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with anyio.fail_after(30):
            await task
        sock.close()


@contextlib.asynccontextmanager
async def _serve_aiohttp(module: ModuleType, settings: Any) -> AsyncIterator[str]:
    from aiohttp import web

    runner = web.AppRunner(module.create_app(settings), access_log=None)
    with anyio.fail_after(30):
        await runner.setup()  # runs the cleanup_ctx up to its yield: the pool is open
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        with anyio.fail_after(30):
            await runner.cleanup()
