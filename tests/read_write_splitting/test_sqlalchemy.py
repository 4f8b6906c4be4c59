"""SQLAlchemy's ``postgresql_readonly`` execution option reaches read_write_splitting."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from awsasyncwrap import release_resources
from awsasyncwrap.testbed import Testbed

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def _url(tb: Testbed) -> str:
    host, port = tb.cluster_endpoint
    query = {
        "wrapper_plugins": "read_write_splitting,failover",
        **tb.wrapper_props(),
        "monitor_disposal_time_ms": "0",
    }
    params = "&".join(f"{k}={quote(v, safe=',')}" for k, v in query.items())
    return f"postgresql+awsasyncwrap_psycopg://{tb.user}@{host}:{port}/{tb.database}?{params}"


async def test_postgresql_readonly_option_moves_the_connection_to_a_reader(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    readers = {inst.id for inst in tb.readers}
    engine = create_async_engine(_url(tb), pool_size=1, max_overflow=0)
    instance_id = text("SELECT aurora_db_instance_identifier(), pg_is_in_recovery()")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(instance_id)).one() == (tb.writer.id, False)
            await conn.rollback()
            ro = await conn.execution_options(postgresql_readonly=True)
            landed, in_recovery = (await ro.execute(instance_id)).one()
            assert landed in readers and in_recovery
        async with engine.connect() as conn:  # the option was reset on return: back on the writer
            assert (await conn.execute(instance_id)).one() == (tb.writer.id, False)
    finally:
        await engine.dispose()
        await release_resources()
