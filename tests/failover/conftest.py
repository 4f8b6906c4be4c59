"""Failover tests: one engine-neutral ``cluster`` fixture, parametrized over PostgreSQL and MariaDB,
``pg_only`` for what only applies to PostgreSQL (psycopg allows concurrent calls on one connection) and
``mariadb_only`` for aiomysql's own methods."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import Testbed

from ._helpers import Cluster


async def _with_table(tb: Testbed) -> AsyncIterator[Cluster]:
    c = Cluster(tb)
    await c.create_table()
    try:
        yield c
    finally:
        await release_resources()  # no monitor carries state into the next test


@pytest_asyncio.fixture(loop_scope="session")
async def cluster(cluster_testbed: Testbed) -> AsyncIterator[Cluster]:
    """The testbed with a fresh test table; every monitor is stopped afterwards."""
    async for c in _with_table(cluster_testbed):
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def pg_only(pg_cluster: Testbed) -> AsyncIterator[Cluster]:
    """Like ``cluster``, PostgreSQL only."""
    async for c in _with_table(pg_cluster):
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def mariadb_only(mariadb_cluster: Testbed) -> AsyncIterator[Cluster]:
    """Like ``cluster``, MariaDB only (aiomysql's own methods)."""
    async for c in _with_table(mariadb_cluster):
        yield c
