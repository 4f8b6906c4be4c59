"""examples/failover_demo.py (the README's ``./run demo``) as a user runs it: output, exit code, teardown."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import anyio
import pytest

from awsasyncwrap.testbed._proc import pids_using

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(120)]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "failover_demo.py"


async def start_demo(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(DEMO),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def data_dir(out: str) -> Path:
    match = re.search(r"\(data in (\S+)\)", out)
    assert match, out
    return Path(match.group(1))


def assert_torn_down(base: Path) -> None:
    assert not base.exists()
    assert pids_using(base) == []


@pytest.mark.parametrize(
    ("engine", "fault"),
    [("postgres", "kill"), ("mariadb", "kill"), ("postgres", "blackhole"), ("mariadb", "blackhole")],
)
async def test_demo_tells_the_story_and_loses_nothing(engine: str, fault: str) -> None:
    proc = await start_demo("--engine", engine, "--fault", fault)
    with anyio.fail_after(100):
        raw_out, raw_err = await proc.communicate()
    out, err = raw_out.decode(), raw_err.decode()
    assert proc.returncode == 0, out + err
    assert f"emulated Aurora {engine} cluster, fault: {fault}" in out
    assert re.search(r"cluster up in \d+\.\d\d s: 3 instances .*, writer = instance 1 ", out), out
    assert "FAULT: writer instance 1 " in out
    # the insert in flight when the writer died: its outcome is unknown; the id makes the retry safe
    seen = r"app: \w*TransactionResolutionUnknownError on the insert of id \d+; the id is idempotent"
    assert re.search(seen, out), out
    new = re.search(r"testbed: instance (\d) is the new writer", out)
    assert new and new.group(1) != "1", out
    assert "app: row " in out and f"acknowledged by instance {new.group(1)}" in out
    assert re.search(r"fault -> first write on the new writer: [\d.]+ s = testbed promotion [\d.]+ s", out)
    counts = re.search(r"rows acknowledged / found:\s+(\d+) / (\d+) \(lost: 0\)", out)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 100, out
    twice = re.search(r"outcome unknown / had landed / written twice: (\d+) / (\d+) / (\d+)", out)
    assert twice and int(twice.group(1)) >= 1 and twice.group(3) == "0", out
    assert out.rstrip().endswith("no acknowledged row was lost")
    assert "RESULT: OK" in out
    assert_torn_down(data_dir(out))


async def test_ctrl_c_tears_everything_down() -> None:
    proc = await start_demo("--engine", "postgres")
    assert proc.stdout is not None and proc.stderr is not None
    seen = ""
    with anyio.fail_after(60):
        while "app: writing" not in seen:
            line = await proc.stdout.readline()
            assert line, seen
            seen += line.decode()
        proc.send_signal(signal.SIGINT)
        rest, err = await proc.communicate()
    assert proc.returncode == 130, seen + rest.decode() + err.decode()
    assert "interrupted: everything was torn down" in err.decode()
    assert_torn_down(data_dir(seen))
