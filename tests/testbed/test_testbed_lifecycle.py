"""Testbed creation, argument checks and teardown."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from awsasyncwrap.testbed import Testbed, TestbedError
from awsasyncwrap.testbed._proc import pids_using


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A fresh dir under /tmp (pytest's tmp_path is not searchable by the servers' OS users)."""
    path = Path(tempfile.mkdtemp(prefix="awt-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "oracle"}, "unknown engine 'oracle'; valid: postgres, mariadb"),
        ({"instances": 0}, "bad instance count 0; valid: 1..16"),
        ({"instances": 17}, "bad instance count 17; valid: 1..16"),
        ({"dns_lag": -1.0}, "bad dns_lag"),
        ({"catch_up_timeout": -1.0}, "bad catch_up_timeout"),
    ],
)
async def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TestbedError, match=message):
        await Testbed.start(**kwargs)  # type: ignore[arg-type]


def assert_no_leftovers(base: Path) -> None:
    assert not base.exists()
    assert pids_using(base) == []


async def assert_gone(tb: Testbed, base: Path) -> None:
    assert_no_leftovers(base)
    for host, port in [inst.address for inst in tb.instances] + [tb.cluster_endpoint, tb.reader_endpoint]:
        with pytest.raises(OSError):
            await asyncio.open_connection(host, port)


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
async def test_aclose_leaves_no_process_or_directory(engine: str, scratch: Path) -> None:
    base = scratch / "tb"
    with anyio.fail_after(60):
        async with Testbed.start(engine, instances=2, base_dir=base) as tb:  # type: ignore[arg-type]
            assert pids_using(base)
            with pytest.raises(TestbedError, match="bad instance '3'; valid: 1, 2"):
                await tb.kill(3)
            await tb.kill(1)  # a dead node must not upset teardown
    await assert_gone(tb, base)


async def test_await_form_and_double_close(scratch: Path) -> None:
    base = scratch / "tb"
    with anyio.fail_after(60):
        tb = await Testbed.start("mariadb", instances=1, base_dir=base)
        try:
            assert tb.readers == [] and tb.writer.id == "1"
            with pytest.raises(TestbedError, match="no running reader"):
                await tb.failover()
            with pytest.raises(TestbedError, match="already holds a testbed"):
                await Testbed.start("mariadb", instances=1, base_dir=base)
        finally:
            await tb.aclose()
            await tb.aclose()
    await assert_gone(tb, base)
