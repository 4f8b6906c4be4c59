"""The chaos soak (benchmarks/chaos.py), 60 s per engine: apps through faults lose and duplicate nothing.

The soak runs in its own process (its own testbed, so its leak checks see only its own tasks and sockets).
Its checks: every acknowledged row exactly once on the final writer, only documented errors, no call over
the budget, no wrapper task, socket or server session left after ``release_resources()``. A fixed seed per
engine keeps the fault schedule the same from run to run; the seed is in the output to replay a failure
(``python benchmarks/chaos.py --engine E --seconds 60 --seed S``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import anyio
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CHAOS = ROOT / "benchmarks" / "chaos.py"
SEEDS = {"postgres": 20261203, "mariadb": 20261204}


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
async def test_chaos_soak_60s(engine: str) -> None:
    src = str(ROOT / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHAOS),
        "--engine",
        engine,
        "--seconds",
        "60",
        "--seed",
        str(SEEDS[engine]),
        cwd=str(CHAOS.parent),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        with anyio.fail_after(220):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode(errors="replace")
    summary = "\n".join(line for line in text.splitlines() if line.startswith("  ") or "RESULT" in line)
    tail = text[-4000:]
    assert f"RESULT {engine}: OK" in text, f"chaos soak failed:\n{summary}\n--- output tail ---\n{tail}"
    assert proc.returncode == 0, text[-4000:]
    assert "lost: 0, duplicated: 0" in text, summary
