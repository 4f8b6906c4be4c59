"""The CLI's background process: owns one :class:`Testbed` and serves commands on a loopback port.

Protocol: one JSON object per line each way. A request is ``{"token": ..., "cmd": ..., **args}``; a
reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": "one line"}``. The token and control port
are in ``<dir>/testbed.json`` (mode 0600), written once the testbed is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ._cluster import Testbed
from ._errors import TestbedError
from ._model import EngineName

__all__ = ["STATE_FILE", "read_state", "request", "serve"]

logger = logging.getLogger(__name__)

STATE_FILE = "testbed.json"
LOG_FILE = "daemon.log"


def read_state(base_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((base_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def request(state: dict[str, Any], cmd: str, timeout: float = 300.0, **args: Any) -> dict[str, Any]:
    """Send one command to a daemon (blocking: this is the CLI side) and return its reply."""
    payload = json.dumps({"token": state["token"], "cmd": cmd, **args}) + "\n"
    try:
        with socket.create_connection(("127.0.0.1", int(state["control_port"])), timeout=5) as sock:
            sock.settimeout(timeout)
            sock.sendall(payload.encode())
            with sock.makefile("rb") as reader:
                line = reader.readline()
    except OSError as exc:
        raise TestbedError(f"cannot reach the testbed daemon (pid {state.get('pid')}): {exc}") from None
    if not line:
        raise TestbedError("the testbed daemon closed the connection without a reply")
    reply: dict[str, Any] = json.loads(line)
    if not reply.get("ok"):
        raise TestbedError(str(reply.get("error", "unknown error")))
    return reply


class _Service:
    def __init__(self, testbed: Testbed, token: str) -> None:
        self.testbed = testbed
        self.token = token
        self.stopped = asyncio.Event()
        self.endpoints: dict[str, Any] = {}  # custom endpoints by name
        self.groups: dict[str, Any] = {}  # the Limitless shard group

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = False
        try:
            line = await reader.readline()
            try:
                req = json.loads(line)
                if not isinstance(req, dict) or not secrets.compare_digest(str(req.get("token")), self.token):
                    raise TestbedError("bad token")
                reply = {"ok": True, **await self.dispatch(req)}
                closed = req.get("cmd") == "down"
            except TestbedError as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:
                logger.exception("command failed")
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()
        finally:
            writer.close()
            if closed:
                self.stopped.set()

    async def dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        tb = self.testbed
        cmd = req.get("cmd")
        if cmd == "down":
            for extra in (*self.endpoints.values(), *self.groups.values()):
                with contextlib.suppress(Exception):
                    await extra.aclose()
            await tb.aclose()
            return {}
        if cmd == "endpoint":
            from ._custom_endpoint import daemon_command as endpoint_command

            return {"lines": await endpoint_command(tb, self.endpoints, req)}
        if cmd == "limitless":
            from ._limitless import daemon_command as limitless_command

            return {"lines": await limitless_command(tb, self.groups, req)}
        if cmd == "global":
            from ._global import daemon_command as global_command

            return await global_command(tb, req)
        if cmd == "bluegreen":
            from ._bluegreen import daemon_command

            return await daemon_command(tb, req)
        if cmd == "failover":
            report = await tb.failover(req.get("to"), float(req.get("delay") or 0.0))
            return {"report": report.to_dict(), "status": (await tb.status()).to_dict()}
        if cmd == "env":
            target = req.get("target") or "cluster"
            return {
                "engine": tb.engine,
                "connect_kwargs": tb.connect_kwargs(target),
                "wrapper_props": tb.wrapper_props(),
            }
        if cmd == "kill":
            await tb.kill(req["instance"])
        elif cmd == "start":
            await tb.start_instance(req["instance"])
        elif cmd == "rejoin":
            await tb.rejoin(req["instance"])
        elif cmd == "heal":
            await tb.heal()
        elif cmd == "net":
            tb.net(req["target"], str(req["mode"]))
        elif cmd != "status":
            raise TestbedError(f"unknown command {cmd!r}")
        return {"status": (await tb.status()).to_dict()}


def _emit(line: str) -> None:
    """Tell the waiting ``up`` command how startup went, then detach from its pipe."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def serve(
    base_dir: Path,
    engine: EngineName,
    instances: int,
    *,
    base_port: int | None,
    dns_lag: float,
    regions: dict[str, int] | None = None,
) -> int:
    """Run until ``down`` or SIGTERM; report ``READY <json>`` or ``ERROR <message>`` on stdout."""
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, main.cancel)  # startup cleans up after itself when cancelled
    try:
        testbed = await Testbed.start(
            engine, instances, base_dir, base_port=base_port, dns_lag=dns_lag, regions=regions
        )
    except Exception as exc:
        logger.exception("testbed did not start")
        _emit("ERROR " + " ".join(str(exc).split()))
        return 1
    service = _Service(testbed, secrets.token_hex(16))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, service.stopped.set)
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    try:
        state = {
            "pid": os.getpid(),
            "control_port": server.sockets[0].getsockname()[1],
            "token": service.token,
            "engine": engine,
        }
        path = base_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        os.replace(tmp, path)
        summary = (await testbed.status()).to_dict()
        summary["elapsed"] = round(time.perf_counter() - started, 3)
        _emit("READY " + json.dumps(summary))
        await service.stopped.wait()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await testbed.aclose()
        await server.wait_closed()
    logger.info("testbed daemon exits")
    return 0
