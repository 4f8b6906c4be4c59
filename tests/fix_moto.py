"""pytest fixtures: a real moto server (AWS emulator) in its own process on loopback.

Enable with ``pytest_plugins = ["fix_moto"]`` in ``tests/conftest.py``. The
server starts on first use of ``moto_server`` and stops at the end of the
session. While it runs, the process environment holds fake AWS credentials
and a default region, and points the AWS config files nowhere, so no test
can reach a real AWS account or an instance metadata service.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["MotoServer", "moto_server"]

_START_TIMEOUT = 30.0
_RUNNING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")

#: Environment of the test session while moto runs: fake credentials, no config files, no IMDS.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/awsasyncwrap-tests/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/awsasyncwrap-tests/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: moto's server, with the custom endpoint actions of tests/moto_rds_endpoints.py (argv[1]: its folder)
_SERVER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import moto_rds_endpoints; "
    "moto_rds_endpoints.install(); from moto.server import main; main()"
)
_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION")


@dataclass(frozen=True)
class MotoServer:
    """A running moto server: ``endpoint`` is its URL (every AWS service answers there)."""

    endpoint: str
    port: int
    log_file: Path

    def reset(self) -> None:
        """Drop every resource moto holds (all services, all regions)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def _wait_for_port(proc: subprocess.Popen[bytes], log_file: Path) -> int:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        match = _RUNNING.search(log_file.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log_file.read_text()[-2000:]}")
        time.sleep(0.02)
    raise RuntimeError(f"moto_server did not start within {_START_TIMEOUT:g} s; see {log_file}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server on ``127.0.0.1`` (a free port), with fake AWS credentials in the environment."""
    log_file = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with pytest.MonkeyPatch.context() as env:
        for name in _UNSET:
            env.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        with log_file.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _SERVER, str(Path(__file__).parent), "-H", "127.0.0.1", "-p", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ},
            )
        try:
            port = _wait_for_port(proc, log_file)
            yield MotoServer(f"http://127.0.0.1:{port}", port, log_file)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
