"""``python -m awsasyncwrap.testbed``: up / status / net / failover / down and error messages."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import awsasyncwrap.testbed
from awsasyncwrap.testbed._proc import pid_alive, pids_using

pytestmark = pytest.mark.cluster

SRC = str(Path(awsasyncwrap.testbed.__file__).resolve().parents[2])


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh dir under /tmp (pytest's tmp_path is not searchable by the servers' OS users)."""
    path = Path(tempfile.mkdtemp(prefix="awt-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "awsasyncwrap.testbed",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    with anyio.fail_after(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_round_trip(scratch: Path) -> None:
    base = scratch / "tb"
    where = ("--dir", str(base))
    code, out, err = await cli("up", "--engine", "postgres", "--instances", "2", *where)
    assert code == 0, err
    assert "postgres testbed up" in out and "healthy" in out
    state = json.loads((base / "testbed.json").read_text())
    try:
        code, _, err = await cli("up", "--engine", "postgres", *where)
        assert (code, err.strip()) == (
            1,
            f"error: a postgres testbed is already up in {base}; run `down` first",
        )

        code, out, _ = await cli("status", "--json", *where)
        status = json.loads(out)["status"]
        assert code == 0 and status["healthy"] and status["writer"] == "1"
        assert [i["id"] for i in status["instances"]] == ["1", "2"]

        code, out, _ = await cli("net", "2", "blackhole", "--json", *where)
        assert code == 0 and json.loads(out)["status"]["instances"][1]["proxy_mode"] == "blackhole"
        code, _, err = await cli("net", "2", "drop", *where)
        assert code == 1 and err.startswith("error: bad network mode 'drop'; valid: pass, blackhole")
        code, _, err = await cli("kill", "5", *where)
        assert (code, err.strip()) == (1, "error: bad instance '5'; valid: 1, 2")

        code, out, _ = await cli("failover", *where)
        assert code == 0 and out.startswith("failover 1 -> 2 in ")
        code, out, _ = await cli("rejoin", "1", "--json", *where)
        assert code == 0 and json.loads(out)["status"]["instances"][0]["replicating_from"] == "2"
        code, out, _ = await cli("heal", *where)
        assert code == 0 and out.rstrip().endswith("healthy") and "NOT healthy" not in out
    finally:
        code, out, err = await cli("down", *where)
    assert code == 0, err
    assert out.strip() == f"testbed in {base} is down"
    assert not base.exists()
    assert pids_using(base) == []
    assert not pid_alive(int(state["pid"]))


async def test_errors_are_one_line(scratch: Path) -> None:
    missing = str(scratch / "none")
    for args, expected in [
        (
            ("up", "--engine", "oracle", "--dir", missing),
            "error: unknown engine 'oracle'; valid: postgres, mariadb",
        ),
        (("status", "--dir", missing), f"error: no testbed is up in {missing}"),
        (("down", "--dir", missing), f"error: no testbed is up in {missing}"),
        (("up", "--instances", "0", "--dir", missing), "error: bad instance count 0; valid: 1..16"),
    ]:
        code, out, err = await cli(*args)
        assert (code, out, err.strip()) == (1, "", expected)
    code, _, err = await cli("explode")
    assert code == 2 and len(err.strip().splitlines()) == 1


async def test_custom_endpoints_and_a_limitless_shard_group(scratch: Path) -> None:
    import psycopg

    from awsasyncwrap.testbed import use_hosts_file

    base = scratch / "tb-extras"
    where = ("--dir", str(base))
    code, _, err = await cli("up", "--engine", "postgres", "--instances", "2", *where)
    assert code == 0, err
    tables = []
    try:
        code, out, err = await cli("endpoint", "create", "reports", "--members", "2", *where)
        assert code == 0, err
        assert "reports.cluster-custom-mydb.us-east-1.rds.amazonaws.com -> members 2" in out
        code, out, _ = await cli("endpoint", "modify", "reports", "--members", "1,2", *where)
        assert code == 0 and "members 1,2" in out
        code, _, err = await cli("endpoint", "modify", "nope", "--members", "1", *where)
        assert (code, err.strip()) == (1, "error: no custom endpoint 'nope'; known: reports")

        code, out, err = await cli("limitless", "create", "--routers", "2", *where)
        assert code == 0, err
        host = out.split()[3]  # "shard group endpoint HOST -> routers ..."
        code, _, _ = await cli("limitless", "load", "1", "0.75", *where)
        assert code == 0
        code, _, err = await cli("limitless", "kill", "7", *where)
        assert (code, err.strip()) == (1, "error: bad router '7'; valid: 0..1")

        tables.append(use_hosts_file(base / "hosts-limitless"))  # as an app in another process does
        settings = json.loads((await cli("env", "--json", *where))[1])
        kwargs = {
            k: settings[k] for k in ("port", "user", "password", "dbname") if settings.get(k) is not None
        }
        async with await psycopg.AsyncConnection.connect(host=host, **kwargs) as conn:
            cur = await conn.execute("SELECT load FROM pg_catalog.aurora_limitless_router_endpoints()")
            assert [row[0] for row in await cur.fetchall()] == [0.0, 0.75]
        code, _, _ = await cli("limitless", "delete", *where)
        assert code == 0
        code, _, _ = await cli("endpoint", "delete", "reports", *where)
        assert code == 0
    finally:
        for table in tables:
            table.uninstall()
        code, _, err = await cli("down", *where)
    assert code == 0, err
    assert not base.exists()
