"""Fixtures of the pool tests: the suite's single servers, reached directly (no fault proxy)."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap.testbed import Testbed


@pytest.fixture
def pg_dsn(pg_server: Testbed) -> str:
    return pg_server.dsn(pg_server.writer, direct=True)


@pytest.fixture
def mysql_kwargs(mariadb_server: Testbed) -> dict[str, Any]:
    return mariadb_server.connect_kwargs(mariadb_server.writer, direct=True)
