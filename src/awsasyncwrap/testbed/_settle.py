"""Topology publication and the wait until every running instance answers the same topology."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import anyio

from . import _status
from ._errors import TestbedError
from ._model import Instance
from ._wait import until

if TYPE_CHECKING:
    from ._cluster import Testbed

__all__ = ["FOLLOW", "View", "publish", "settle", "views"]

logger = logging.getLogger(__name__)

FOLLOW = 2.0  # seconds a repointed replica gets to stream before it is rebuilt (normally 0.05 s)
_SETTLE_POLL = 0.01  # seconds between two looks at every instance's topology while it settles
_SETTLE_POLL_MAX = 0.2  # ... doubling up to this
_STATE_TIMEOUT = 5.0  # seconds to ask the instances for their replication state when they do not settle

View = tuple[frozenset[str], tuple[str, ...]]  # (instance ids, writer ids) one instance answers


async def publish(tb: Testbed) -> None:
    """Write the current roles to the emulated topology (on the writer, if it runs)."""
    if tb._writer.running:
        await tb._engine.publish_topology(tb._writer, tb._instances)


async def views(tb: Testbed) -> dict[str, View | None]:
    """What each running instance answers to the topology query now (None: no answer)."""
    running = [inst for inst in tb._instances if inst.running]

    async def view(inst: Instance) -> View | None:
        try:
            seen = await tb._engine.topology_view(inst)
        except TestbedError as exc:
            tb._silence.silent(inst, exc, tb._engine.server_pid(inst))
            return None  # not answering yet (e.g. restarting): not settled
        tb._silence.answered(inst)
        return seen

    return dict(zip((i.id for i in running), await asyncio.gather(*map(view, running)), strict=True))


async def _replication(tb: Testbed) -> dict[str, str]:
    """Each running instance's own account of its role and replication (why a topology did not arrive)."""
    with anyio.move_on_after(_STATE_TIMEOUT):
        report = await _status.status(tb)
        return {
            inst.id: f"{'writable' if inst.writable else 'read-only'}, {inst.replication}"
            if inst.reachable
            else "not answering"
            for inst in report.instances
            if inst.running
        }
    return {inst.id: "no answer in time" for inst in tb._instances if inst.running}


async def settle(tb: Testbed) -> None:
    """See :meth:`Testbed.settled` (called with the lock held)."""
    writer = tb._writer
    expected = (frozenset(i.id for i in tb._instances if i.running), (writer.id,))
    seen: dict[str, View | None] = {}

    async def agreed() -> bool:
        nonlocal seen
        seen = await views(tb)
        if writer.running:
            return all(v == expected for v in seen.values())
        return None not in seen.values() and len(set(seen.values())) <= 1

    limit = tb._engine.options.timeout if writer.running else FOLLOW
    with anyio.move_on_after(limit):
        # each look opens a connection to every running instance: back off while they disagree (a
        # fixed 10 ms poll opened ~300 connections a second to a MariaDB node through a long settle,
        # and under a chaos soak a node then stopped answering new connections' handshakes)
        await until(agreed, interval=_SETTLE_POLL, most=_SETTLE_POLL_MAX)
        return
    shown = {k: None if v is None else (sorted(v[0]), list(v[1])) for k, v in seen.items()}
    if writer.running:
        raise TestbedError(
            f"instances disagree on the topology after {limit:g} s: {shown}; what each says of its "
            f"replication: {await _replication(tb)}"
        )
    logger.info("writer %s is down and its readers still disagree on the topology: %s", writer.id, shown)
