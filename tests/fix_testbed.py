"""pytest fixtures: real servers and emulated Aurora clusters from :mod:`awsasyncwrap.testbed`.

Enable with ``pytest_plugins = ["fix_testbed"]`` in ``tests/conftest.py`` (``tests`` on ``sys.path``).
Every fixture starts its testbed on first use, keeps it for the session (one session-scoped event
loop) and stops it at the end. Before each test the testbed is healed: all proxies ``pass``, every
instance up and replicating, ``dns_lag`` 0 and ``catch_up_timeout`` back to its default. The writer
may be any instance; use ``tb.writer``.

- ``pg_server`` / ``mariadb_server``: one instance (a plain server behind its proxy);
- ``pg_cluster`` / ``mariadb_cluster``: three instances with Aurora topology emulation;
- ``server_testbed`` / ``cluster_testbed``: the one or the other, parametrized (the test runs per engine).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import pytest_asyncio

from awsasyncwrap.testbed import CATCH_UP_TIMEOUT, EngineName, Testbed

__all__ = [
    "cluster_testbed",
    "mariadb_cluster",
    "mariadb_server",
    "pg_cluster",
    "pg_server",
    "server_testbed",
]

_HEAL_TIMEOUT = 60.0


async def _session_testbed(engine: EngineName, instances: int) -> AsyncIterator[Testbed]:
    testbed = await Testbed.start(engine, instances=instances)
    try:
        yield testbed
    finally:
        await testbed.aclose()


async def _healed(testbed: Testbed) -> Testbed:
    testbed.dns_lag = 0.0
    testbed.catch_up_timeout = CATCH_UP_TIMEOUT
    with anyio.fail_after(_HEAL_TIMEOUT):
        await testbed.heal()
    return testbed


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _pg_server_session() -> AsyncIterator[Testbed]:
    async for testbed in _session_testbed("postgres", 1):
        yield testbed


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _mariadb_server_session() -> AsyncIterator[Testbed]:
    async for testbed in _session_testbed("mariadb", 1):
        yield testbed


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _pg_cluster_session() -> AsyncIterator[Testbed]:
    async for testbed in _session_testbed("postgres", 3):
        yield testbed


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _mariadb_cluster_session() -> AsyncIterator[Testbed]:
    async for testbed in _session_testbed("mariadb", 3):
        yield testbed


@pytest_asyncio.fixture(loop_scope="session")
async def pg_server(_pg_server_session: Testbed) -> Testbed:
    """A single PostgreSQL instance: ``pg_server.dsn()``, user/db ``postgres``, trust auth."""
    return await _healed(_pg_server_session)


@pytest_asyncio.fixture(loop_scope="session")
async def mariadb_server(_mariadb_server_session: Testbed) -> Testbed:
    """A single MariaDB instance: ``mariadb_server.connect_kwargs()``, user/password/db ``test``."""
    return await _healed(_mariadb_server_session)


@pytest_asyncio.fixture(loop_scope="session")
async def pg_cluster(_pg_cluster_session: Testbed) -> Testbed:
    """A healthy 3-instance Aurora PostgreSQL emulation (writer: ``pg_cluster.writer``)."""
    return await _healed(_pg_cluster_session)


@pytest_asyncio.fixture(loop_scope="session")
async def mariadb_cluster(_mariadb_cluster_session: Testbed) -> Testbed:
    """A healthy 3-instance Aurora MySQL emulation on MariaDB (writer: ``mariadb_cluster.writer``)."""
    return await _healed(_mariadb_cluster_session)


@pytest.fixture(params=["postgres", "mariadb"])
def server_testbed(request: pytest.FixtureRequest) -> Testbed:
    """``pg_server`` or ``mariadb_server`` (healed)."""
    tb: Testbed = request.getfixturevalue("pg_server" if request.param == "postgres" else "mariadb_server")
    return tb


@pytest.fixture(params=["postgres", "mariadb"])
def cluster_testbed(request: pytest.FixtureRequest) -> Testbed:
    """``pg_cluster`` or ``mariadb_cluster`` (healed)."""
    tb: Testbed = request.getfixturevalue("pg_cluster" if request.param == "postgres" else "mariadb_cluster")
    return tb
