"""The shipped custom-plugin example runs as documented."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.timeout(60)


async def run_example(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "custom_plugin.py"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    with anyio.fail_after(50):
        out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_custom_plugin_example_on_postgres(pg_dsn: str) -> None:
    out = await run_example("--dsn", pg_dsn)
    assert "The connection has changed: initial_connection" in out
    assert "SELECT 1 -> (1,)" in out
    assert "calls seen by good_plugin: 1" in out


async def test_custom_plugin_example_on_mariadb(mysql_kwargs: dict[str, Any]) -> None:
    args = [f"{k}={v}" for k, v in mysql_kwargs.items() if k != "db"]
    out = await run_example("--mysql", *args)
    assert "SELECT 1 -> (1,)" in out
