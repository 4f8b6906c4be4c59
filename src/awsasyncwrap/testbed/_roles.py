"""Role changes (called with the testbed's lock held): kill, start, failover and heal.

A writer that stops is fenced first (its proxies hold client traffic) and drained (its readers get
all it committed), so no acknowledged commit is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import anyio

from .._tasks import cancel_and_wait, gather_within, spawn
from ._errors import TestbedError
from ._model import FailoverReport, Instance
from ._settle import FOLLOW, publish

if TYPE_CHECKING:
    from ._cluster import Testbed

__all__ = ["failover", "fence", "follow", "heal", "kill", "most_advanced", "start", "unfence"]

logger = logging.getLogger(__name__)

_GRACE = 0.5  # seconds the other readers get once the one that matters has caught up


async def kill(tb: Testbed, inst: Instance) -> None:
    if not inst.running:
        return
    if inst is not tb._writer:
        await tb._engine.kill(inst)
        inst.running = False
        logger.info("instance %s killed", inst.id)
        return
    fence(tb, inst)
    try:
        await _drain(tb, inst, None)
        await tb._engine.kill(inst)
        inst.running = False
        logger.info("instance %s (writer) killed", inst.id)
    finally:
        unfence(tb, inst)


def fence(tb: Testbed, writer: Instance) -> None:
    """Hold all client traffic to ``writer`` at every proxy: nothing new is acknowledged."""
    for proxy in tb._proxies.values():
        proxy.fence(("127.0.0.1", writer.node_port))


def unfence(tb: Testbed, writer: Instance) -> None:
    """Lift :func:`fence`: a dead writer's held connections are reset, held bytes discarded."""
    for proxy in tb._proxies.values():
        proxy.unfence(("127.0.0.1", writer.node_port), drop=not writer.running)


def _succeeded(task: asyncio.Future[bool]) -> bool:
    """True if ``task`` finished and returned True (False if it failed, was cancelled or runs)."""
    if not task.done() or task.cancelled():
        return False
    if task.exception() is not None:
        logger.info("catch-up step failed: %r", task.exception())
        return False
    return task.result()


async def _drain(tb: Testbed, writer: Instance, must: Instance | None) -> bool:
    """Let the running readers get all that the (fenced) ``writer`` has committed.

    ``must`` (default: the most advanced reader) gets up to :attr:`Testbed.catch_up_timeout`; the others
    only a short grace after it (one that lags simply follows the next writer later). True if ``must``
    caught up.
    """
    live = [inst for inst in tb.readers if inst.running]
    if not live or tb._catch_up_timeout <= 0:
        if live:
            logger.info("writer %s stops without letting its readers catch up", writer.id)
        return False
    if must is None:
        try:
            must = await most_advanced(tb, live)
        except TestbedError as exc:
            logger.info("cannot compare the readers of writer %s (%s)", writer.id, exc)
            must = live[0]
    # tasks owned by this call: all of them are done or cancelled and awaited when it returns
    tasks = {inst: spawn(_drain_into(tb, writer, inst), f"testbed:catch-up:{inst.id}") for inst in live}
    key = tasks[must]
    try:
        with anyio.move_on_after(tb._catch_up_timeout):
            await gather_within([key], None)
            await gather_within([task for task in tasks.values() if task is not key], _GRACE)
    finally:
        with anyio.CancelScope(shield=True):
            await cancel_and_wait(list(tasks.values()), None)
    for inst, task in tasks.items():
        if not _succeeded(task):
            level = logging.WARNING if inst is must else logging.INFO
            logger.log(level, "instance %s did not catch up with writer %s in time", inst.id, writer.id)
    return _succeeded(key)


async def _drain_into(tb: Testbed, writer: Instance, replica: Instance) -> bool:
    """Make ``replica`` replicate from ``writer`` and apply all of it, until nothing new comes."""
    try:
        if not await tb._engine.follow(replica, writer):
            return False
        while True:
            before = await tb._engine.position(writer)
            await tb._engine.catch_up(writer, replica)
            if await tb._engine.position(writer) == before:
                return True
    except TestbedError as exc:
        logger.info("instance %s cannot catch up with writer %s: %s", replica.id, writer.id, exc)
        return False


async def most_advanced(tb: Testbed, candidates: list[Instance]) -> Instance:
    positions = await asyncio.gather(*(tb._engine.position(inst) for inst in candidates))
    return max(zip(positions, candidates, strict=True), key=lambda pc: (pc[0], -pc[1].number))[1]


async def follow(tb: Testbed, inst: Instance, writer: Instance, limit: float) -> bool:
    with anyio.move_on_after(limit):
        return await tb._engine.follow(inst, writer)
    logger.info("instance %s does not replicate from %s after %g s", inst.id, writer.id, limit)
    return False


async def start(tb: Testbed, inst: Instance, *, force_rebuild: bool = False) -> None:
    if inst.running:
        return
    engine = tb._engine
    writer = tb._writer
    if inst is writer:
        await engine.start(inst, writer=True)
        inst.running = True
        logger.info("instance %s (writer) started", inst.id)
        return
    rebuilt = force_rebuild or engine.needs_rebuild(inst)
    if rebuilt:
        if not writer.running:
            raise TestbedError(
                f"instance {inst.id} must be rebuilt from writer {writer.id}, which is down; "
                "start the writer or fail over first"
            )
        await engine.rebuild(inst, writer)
    await engine.start(inst, writer=False)
    inst.running = True
    if writer.running and not rebuilt and not await follow(tb, inst, writer, FOLLOW):
        logger.info("instance %s cannot follow writer %s; rebuilding it", inst.id, writer.id)
        await engine.stop(inst)
        inst.running = False
        await engine.rebuild(inst, writer)
        await engine.start(inst, writer=False)
        inst.running = True
        rebuilt = True
    # a rebuilt node may have a long history to replay: give it the full step timeout
    if writer.running and rebuilt and not await follow(tb, inst, writer, engine.options.timeout):
        raise TestbedError(f"instance {inst.id} does not replicate from {writer.id}; see {inst.log_file}")
    logger.info("instance %s started as a reader of %s", inst.id, writer.id)


async def failover(
    tb: Testbed, target: Instance | None, delay: float, strict: bool = False
) -> FailoverReport:
    """``strict``: raise (the writer unchanged) unless ``target`` gets all the writer committed."""
    t0 = time.perf_counter()
    engine = tb._engine
    old = tb._writer
    live = tb._failover_candidates([inst for inst in tb.readers if inst.running])
    if target is not None:
        if target is old:
            raise TestbedError(f"instance {target.id} is already the writer")
        if not target.running:
            raise TestbedError(f"instance {target.id} is down; cannot promote it")
    elif not live:
        raise TestbedError("no running reader to promote")
    fenced = old.running
    if fenced:
        fence(tb, old)
    try:
        new = target or await most_advanced(tb, live)
        t_catch_up = time.perf_counter()
        if old.running and not await _drain(tb, old, new) and strict:
            raise TestbedError(f"instance {new.id} did not catch up with writer {old.id}; no change")
        catch_up = time.perf_counter() - t_catch_up
        t_kill = time.perf_counter()
        if old.running:
            await engine.kill(old)
            old.running = False
        kill = time.perf_counter() - t_kill
    finally:
        if fenced:
            unfence(tb, old)
    if delay > 0:
        await asyncio.sleep(delay)
    t_promote = time.perf_counter()
    await engine.promote(new)
    promote = time.perf_counter() - t_promote
    t_writable = time.perf_counter()
    try:
        with anyio.fail_after(engine.options.timeout):
            await engine.wait_writable(new)
    except TimeoutError:
        raise TestbedError(f"instance {new.id} did not become writable; see {new.log_file}") from None
    writable = time.perf_counter() - t_writable
    old.role, new.role = "reader", "writer"
    tb._writer = new
    tb._endpoints.schedule()
    t_repoint = time.perf_counter()
    others = [inst for inst in tb.readers if inst.running]
    followed = await asyncio.gather(*(follow(tb, inst, new, FOLLOW) for inst in others))
    for inst, ok in zip(others, followed, strict=True):
        if not ok:  # it had replayed more than the new writer got: rebuild it
            logger.info("instance %s cannot follow instance %s; rebuilding it", inst.id, new.id)
            await engine.stop(inst)
            inst.running = False
            await start(tb, inst, force_rebuild=True)
    repoint = time.perf_counter() - t_repoint
    await publish(tb)
    report = FailoverReport(
        old_writer=old.id,
        new_writer=new.id,
        kill=kill,
        promote=promote,
        writable=writable,
        repoint=repoint,
        total=time.perf_counter() - t0,
        catch_up=catch_up,
    )
    logger.info("failover %s -> %s in %.3f s", old.id, new.id, report.total)
    return report


async def heal(tb: Testbed) -> None:
    tb.net("all", "pass")
    tb._endpoints.apply()
    changed = False
    if not tb._writer.running:
        changed = True
        if any(inst.running for inst in tb.readers):
            await failover(tb, None, 0.0)
        else:
            await start(tb, tb._writer)
    writer = tb._writer
    for inst in tb.readers:
        if not inst.running:
            await start(tb, inst)
            changed = True
        elif not await follow(tb, inst, writer, FOLLOW):
            await tb._engine.stop(inst)
            inst.running = False
            await start(tb, inst, force_rebuild=True)
            changed = True
    if changed:
        await publish(tb)
    tb._endpoints.apply()
