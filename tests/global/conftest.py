"""Global Database testbeds (PostgreSQL and MariaDB), two regions, healed before each test with the writer
back in the home region; every wrapper monitor is stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import pytest_asyncio

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import CATCH_UP_TIMEOUT, EngineName, Testbed

HOME = "us-east-1"
REGIONS = {HOME: 2, "eu-west-1": 2}


async def _session(engine: EngineName) -> AsyncIterator[Testbed]:
    tb = await Testbed.start(engine, regions=REGIONS)
    try:
        yield tb
    finally:
        await tb.aclose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _pg_global_session() -> AsyncIterator[Testbed]:
    async for tb in _session("postgres"):
        yield tb


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _mariadb_global_session() -> AsyncIterator[Testbed]:
    async for tb in _session("mariadb"):
        yield tb


async def _healed(tb: Testbed) -> AsyncIterator[Testbed]:
    tb.catch_up_timeout = CATCH_UP_TIMEOUT
    with anyio.fail_after(90):
        await tb.heal()
        if tb.primary_region != HOME:
            await tb.global_switchover(HOME)
    try:
        yield tb
    finally:
        await release_resources()


@pytest_asyncio.fixture(loop_scope="session")
async def pg_gdb(_pg_global_session: Testbed) -> AsyncIterator[Testbed]:
    async for tb in _healed(_pg_global_session):
        yield tb


@pytest_asyncio.fixture(loop_scope="session")
async def mariadb_gdb(_mariadb_global_session: Testbed) -> AsyncIterator[Testbed]:
    async for tb in _healed(_mariadb_global_session):
        yield tb


@pytest.fixture(params=["postgres", "mariadb"])
def gdb(request: pytest.FixtureRequest) -> Testbed:
    """A healthy global testbed (writer in ``HOME``), per engine."""
    tb: Testbed = request.getfixturevalue("pg_gdb" if request.param == "postgres" else "mariadb_gdb")
    return tb
