"""The testbed's blue/green emulation: names, metadata on every node, switchover, rollback, CLI, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from awsasyncwrap.testbed import PhaseSeconds, Testbed, TestbedError, use_hosts_file

pytestmark = pytest.mark.timeout(180)

FAST = PhaseSeconds(preparation=0.1, notice=0.05, post=0.1)


def _resolve(name: str) -> str:
    return str(socket.getaddrinfo(name, 1, type=socket.SOCK_STREAM)[0][4][0])


async def _pg_rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        cur = await conn.execute(sql)
        return await cur.fetchall() if cur.description else []


async def test_postgres_switchover_renames_and_leaves_nothing_behind() -> None:
    original = socket.getaddrinfo
    hosts_before = await asyncio.to_thread(Path("/etc/hosts").read_bytes)
    async with Testbed.start("postgres", instances=2) as tb:
        bg = await tb.create_blue_green()
        blue_ip, green_ip = tb.cluster_endpoint[0], bg.green.cluster_endpoint[0]
        assert bg.host() == f"mydb.cluster-{bg.names.domain}" and bg.names.domain.endswith(
            ".rds.amazonaws.com"
        )
        assert "-green-" in bg.host(side="green")
        assert await asyncio.to_thread(_resolve, bg.host()) == blue_ip
        assert await asyncio.to_thread(_resolve, bg.host(side="green")) == green_ip
        with pytest.raises(socket.gaierror):  # a name of the zone that does not exist: no real DNS query
            await asyncio.to_thread(_resolve, f"nope.cluster-{bg.names.domain}")
        meta = "SELECT role, status FROM pg_catalog.get_blue_green_fast_switchover_metadata('t')"
        for inst in (*tb.instances, *bg.green.instances):  # every node answers
            rows = (
                await _pg_rows(tb.dsn(inst.address), meta)
                if inst in tb.instances
                else await _pg_rows(bg.green.dsn(inst), meta)
            )
            assert {r[1] for r in rows} == {"AVAILABLE"} and len(rows) == 8
        await _pg_rows(bg.dsn(), "CREATE TABLE t (i int); INSERT INTO t VALUES (1)")
        report = await bg.switchover(FAST)
        assert report.in_progress_at < report.writes_stopped_at < report.promoted_at < report.renamed_at
        # the blue names reach green (promoted, with the data); old blue answers -old1 and is read-only
        assert await asyncio.to_thread(_resolve, bg.host()) == green_ip
        rows = await _pg_rows(
            bg.dsn(), "SELECT aurora_db_instance_identifier(), pg_is_in_recovery(), count(*) FROM t"
        )
        assert rows == [(bg.green.writer.id, False, 1)]
        assert await _pg_rows(bg.dsn(side="old"), "SHOW default_transaction_read_only") == [("on",)]
        assert {r[1] for r in await _pg_rows(bg.dsn(), meta)} == {"SWITCHOVER_COMPLETED"}
        with pytest.raises(socket.gaierror):  # green names left DNS
            await asyncio.to_thread(_resolve, bg.host(side="green"))
        with pytest.raises(TestbedError, match="switched over already"):
            await bg.switchover(FAST)
        await bg.delete()
        assert await _pg_rows(
            bg.dsn(), "SELECT to_regproc('pg_catalog.get_blue_green_fast_switchover_metadata')"
        ) == [(None,)]
    assert socket.getaddrinfo is original
    assert await asyncio.to_thread(Path("/etc/hosts").read_bytes) == hosts_before


async def test_mariadb_rollback_keeps_blue() -> None:
    import aiomysql

    async with Testbed.start("mariadb", instances=2) as tb:
        bg = await tb.create_blue_green()

        async def query(sql: str, side: str = "blue") -> list[tuple[object, ...]]:
            conn = await aiomysql.connect(**bg.connect_kwargs(side=side), autocommit=True)  # type: ignore[arg-type]
            try:
                cur = await conn.cursor()
                await cur.execute(sql)
                return list(await cur.fetchall())
            finally:
                conn.close()

        assert await query("SELECT @@report_host, @@read_only", side="green") == [(bg.green.writer.id, 1)]
        report = await bg.switchover(FAST, rollback=True)
        assert report.rolled_back
        assert await query("SELECT DISTINCT status FROM mysql.rds_topology") == [("AVAILABLE",)]
        assert await query("SELECT @@report_host, @@read_only") == [(tb.writer.id, 0)]
        await query("CREATE TABLE t (i int)")  # blue takes writes again


def test_cli_bluegreen() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    scratch = Path(tempfile.mkdtemp(prefix="awt-bg-"))  # pytest's tmp_path is not searchable by postgres
    scratch.chmod(0o755)
    base = scratch / "tb"

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "awsasyncwrap.testbed", *args, "--dir", str(base)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("up", "--engine", "postgres", "--instances", "2")
    try:
        out = cli("bluegreen", "create")
        assert "status AVAILABLE" in out and (base / "hosts").exists()
        table = use_hosts_file(base / "hosts")
        try:
            blue = next(n for n in table.names if n.startswith("mydb.cluster-"))
            before = _resolve(blue)
            out = cli("bluegreen", "switchover", "--phase-seconds", "0.1,0.05,0.1")
            assert "switched over" in out
            assert _resolve(blue) != before  # the daemon's rename reaches this process through the file
        finally:
            table.uninstall()
        status = json.loads(cli("bluegreen", "status", "--json"))
        assert any("SWITCHOVER_COMPLETED" in line for line in status["bluegreen"])
    finally:
        cli("down")
        scratch.rmdir()
    assert not base.exists()
