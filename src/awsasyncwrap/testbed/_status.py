"""Status reporting: every node's state as seen by its server, plus the testbed's own view."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ._endpoints import ENDPOINT_PROXIES
from ._model import InstanceStatus, TestbedStatus

if TYPE_CHECKING:
    from ._cluster import Testbed

__all__ = ["status"]


async def status(tb: Testbed) -> TestbedStatus:
    """Ask every running node for its state (see :meth:`Testbed.status`)."""
    instances = tb._instances
    by_port = {inst.node_port: inst for inst in instances}
    states = await asyncio.gather(*(tb._engine.node_state(inst) for inst in instances if inst.running))
    running = iter(states)
    items = []
    for inst in instances:
        state = next(running) if inst.running else None
        upstream = by_port.get(state.upstream_port) if state and state.upstream_port else None
        items.append(
            InstanceStatus(
                id=inst.id,
                role=inst.role,
                running=inst.running,
                reachable=bool(state and state.reachable),
                writable=state.writable if state else None,
                replicating_from=upstream.id if upstream else None,
                replication=state.replication if state else "down",
                proxy_mode=tb._proxies[inst.id].mode,
                node_port=inst.node_port,
                address=inst.address,
                region=tb.region_of(inst) if tb.is_global else None,
            )
        )
    return TestbedStatus(
        engine=tb.engine,
        base_dir=str(tb.base_dir),
        host_pattern=tb.host_pattern,
        port=tb.port,
        writer=tb.writer.id,
        cluster_endpoint=tb.cluster_endpoint,
        reader_endpoint=tb.reader_endpoint,
        endpoint_writer=tb._endpoints.writer.id,
        endpoint_readers=[inst.id for inst in tb._endpoints.readers],
        endpoint_modes={n: p.mode for n, p in tb._proxies.items() if n in ENDPOINT_PROXIES},
        instances=items,
    )
