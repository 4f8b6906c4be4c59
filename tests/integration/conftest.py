"""Connection parameters of the suite's own single-instance servers (testbed fixtures)."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap.testbed import Testbed


@pytest.fixture
def pg_dsn(pg_server: Testbed) -> str:
    """libpq connection string of the suite's PostgreSQL server (no fault proxy in between)."""
    return pg_server.dsn(pg_server.writer, direct=True)


@pytest.fixture
def mysql_kwargs(mariadb_server: Testbed) -> dict[str, Any]:
    """aiomysql keyword arguments of the suite's MariaDB server (no fault proxy in between)."""
    return mariadb_server.connect_kwargs(mariadb_server.writer, direct=True)
