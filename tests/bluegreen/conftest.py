"""Fixtures: a fresh blue testbed (2 instances) with a green deployment per test (a switchover uses it up)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import BlueGreenDeployment, EngineName, Testbed


async def _deployment(engine: EngineName) -> AsyncIterator[BlueGreenDeployment]:
    async with Testbed.start(engine, instances=2) as tb:
        deployment = await tb.create_blue_green()
        try:
            yield deployment
        finally:
            await release_resources()


@pytest_asyncio.fixture(loop_scope="session")
async def pg_bluegreen() -> AsyncIterator[BlueGreenDeployment]:
    """A PostgreSQL blue cluster (writer + reader) with a green deployment, status AVAILABLE."""
    async for deployment in _deployment("postgres"):
        yield deployment


@pytest_asyncio.fixture(loop_scope="session")
async def mariadb_bluegreen() -> AsyncIterator[BlueGreenDeployment]:
    """A MariaDB blue cluster (writer + reader) with a green deployment, status AVAILABLE."""
    async for deployment in _deployment("mariadb"):
        yield deployment
