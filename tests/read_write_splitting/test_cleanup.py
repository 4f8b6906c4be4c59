"""Nothing outlives close() + release_resources(): no task, no pool, no open driver connection."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import release_resources
from awsasyncwrap._background import registry

from ._helpers import Db, until, wrapper_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def test_no_task_or_connection_left_after_close_and_release_resources(db: Db) -> None:
    props: dict[str, Any] = {
        "plugins": "read_write_splitting,fastest_response_strategy,failover",
        "reader_host_selector_strategy": "fastest_response",
        "response_measurement_interval_ms": 200,
        "rw_internal_pools": True,
        "monitor_disposal_time_ms": 60_000,
    }
    conns = [await db.connect(**props) for _ in range(3)]
    drivers: list[Any] = []
    for i, conn in enumerate(conns):
        drivers.append(conn.target_connection)
        await conn.set_read_only(True)
        drivers.append(conn.target_connection)
        assert await db.is_reader(conn)
        if i % 2:
            await conn.set_read_only(False)
    assert wrapper_tasks()  # topology monitor and response-time measurement are running
    for conn in conns:
        await conn.close()
    await release_resources()
    assert not registry().services()
    await until(lambda: not wrapper_tasks(), timeout=10)
    assert all(c.closed for c in drivers)
