"""What a type checker sees of a wrapped connection: mypy --strict on small user scripts.

``connect()`` is typed as the driver's connection (psycopg's ``AsyncConnection[Row]``, rows from
``row_factory``), so typos and wrong row types in user code are reported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import awsasyncwrap

pytestmark = pytest.mark.timeout(300)

GOOD = """
from typing import Any, assert_type

import psycopg
from psycopg.rows import dict_row

from awsasyncwrap import AsyncAwsConnection


async def main() -> None:
    conn = await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "dbname=app", plugins="failover")
    assert_type(conn, psycopg.AsyncConnection[tuple[Any, ...]])
    cur = await conn.execute("SELECT 1")
    row = await cur.fetchone()
    assert_type(row, tuple[Any, ...] | None)
    await conn.commit()
    async with conn.transaction():
        await conn.execute("SELECT 2")

    dconn = await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "", row_factory=dict_row)
    drow = await (await dconn.execute("SELECT 1 AS a")).fetchone()
    assert_type(drow, dict[str, Any] | None)
    async for notify in dconn.notifies(timeout=1.0):
        assert_type(notify, psycopg.Notify)

    async with AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "") as block:
        assert_type(block, psycopg.AsyncConnection[tuple[Any, ...]])
    wrapper = AsyncAwsConnection.of(conn)
    assert_type(wrapper, AsyncAwsConnection[psycopg.AsyncConnection[tuple[Any, ...]]])
    assert_type(wrapper.target_connection, psycopg.AsyncConnection[tuple[Any, ...]])
    assert_type(AsyncAwsConnection.of(dconn).target_connection, psycopg.AsyncConnection[dict[str, Any]])
    held: AsyncAwsConnection = wrapper  # the bare name stands for any driver's connection
    assert_type(held.target_connection, Any)
"""

BAD = """
import psycopg
from psycopg.rows import dict_row

from awsasyncwrap import AsyncAwsConnection


async def main() -> None:
    conn = await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "dbname=app")
    await conn.comit()  # line 10
    cur = conn.cursor()
    await cur.fetchone(1)  # line 12
    dconn = await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, "", row_factory=dict_row)
    drow = await (await dconn.execute("SELECT 1 AS a")).fetchone()
    if drow is not None:
        print(drow[0])  # line 16
    await conn.set_autocommit("yes")  # line 17
"""


def run_mypy(tmp_path: Path, source: str) -> tuple[int, str]:
    script = tmp_path / "user_script.py"
    script.write_text(source)
    src = Path(awsasyncwrap.__file__).resolve().parent.parent
    env = {**os.environ, "MYPYPATH": str(src)}
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    proc = subprocess.run(
        [*cmd, "--python-version", "3.11", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=280,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_correct_script_type_checks(tmp_path: Path) -> None:
    code, out = run_mypy(tmp_path, GOOD)
    assert code == 0, out


def test_typos_and_wrong_types_are_reported(tmp_path: Path) -> None:
    code, out = run_mypy(tmp_path, BAD)
    assert code == 1, out
    lines = {int(m.group(1)): m.group(2) for m in re.finditer(r"user_script\.py:(\d+): error: (.*)", out)}
    assert '"AsyncConnection[tuple[Any, ...]]" has no attribute "comit"' in lines.get(10, ""), out
    assert "Too many arguments" in lines.get(12, ""), out
    assert "dict[str, Any]" in lines.get(16, ""), out
    assert "set_autocommit" in lines.get(17, ""), out
