"""Fixtures of the SQLAlchemy tests: engines on the suite's servers, through the wrapper's dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from awsasyncwrap.testbed import Testbed


def pg_url(tb: Testbed, target: Any = None, **query: str) -> str:
    host, port = tb.address_of(target if target is not None else tb.writer)
    params = "&".join(f"{k}={quote(v, safe=',')}" for k, v in query.items())
    return f"postgresql+awsasyncwrap_psycopg://{tb.user}@{host}:{port}/{tb.database}" + (
        f"?{params}" if params else ""
    )


def mysql_url(tb: Testbed, target: Any = None, **query: str) -> str:
    host, port = tb.address_of(target if target is not None else tb.writer)
    params = "&".join(f"{k}={quote(v, safe=',')}" for k, v in query.items())
    return f"mysql+awsasyncwrap_aiomysql://{tb.user}:{tb.password}@{host}:{port}/{tb.database}" + (
        f"?{params}" if params else ""
    )


@pytest.fixture
async def pg_engine(pg_server: Testbed) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        pg_url(pg_server, wrapper_plugins="dev", wrapper_dialect="pg"), pool_size=2, max_overflow=0
    )
    yield engine
    await engine.dispose()


@pytest.fixture
async def mysql_engine(mariadb_server: Testbed) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        mysql_url(mariadb_server, wrapper_plugins="dev", wrapper_dialect="mariadb"),
        pool_size=2,
        max_overflow=0,
    )
    yield engine
    await engine.dispose()
