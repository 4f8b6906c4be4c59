"""Read/write splitting tests: engine-neutral ``db`` (3-node cluster) and ``single`` (one server) fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from awsasyncwrap import release_resources
from awsasyncwrap.host_selectors import RoundRobinHostSelector
from awsasyncwrap.plugin_service import _availability
from awsasyncwrap.testbed import Testbed

from ._helpers import Db


@pytest.fixture(params=["postgres", "mariadb"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cluster_testbed(engine: str, request: pytest.FixtureRequest) -> Testbed:
    """``pg_cluster`` or ``mariadb_cluster`` (healed)."""
    tb: Testbed = request.getfixturevalue("pg_cluster" if engine == "postgres" else "mariadb_cluster")
    return tb


@pytest.fixture
def server_testbed(engine: str, request: pytest.FixtureRequest) -> Testbed:
    """``pg_server`` or ``mariadb_server`` (healed)."""
    tb: Testbed = request.getfixturevalue("pg_server" if engine == "postgres" else "mariadb_server")
    return tb


@pytest_asyncio.fixture(loop_scope="session")
async def db(cluster_testbed: Testbed) -> AsyncIterator[Db]:
    """The 3-node cluster; every wrapper service of the loop is stopped afterwards."""
    RoundRobinHostSelector.clear()
    _availability.clear()  # the testbed was healed: forget hosts an earlier failover marked down
    try:
        yield Db(cluster_testbed)
    finally:
        await release_resources()


@pytest_asyncio.fixture(loop_scope="session")
async def single(server_testbed: Testbed) -> AsyncIterator[Db]:
    """A single plain server."""
    try:
        yield Db(server_testbed)
    finally:
        await release_resources()
