"""Failover demo: an app writing through awsasyncwrap while the writer of a local Aurora emulation fails.

    .venv/bin/python examples/failover_demo.py [--engine postgres|mariadb] [--fault kill|blackhole]

It brings up a 3-instance emulated Aurora cluster (``awsasyncwrap.testbed``: real servers on loopback,
each behind a fault-injecting proxy), connects through the cluster endpoint with
``AsyncAwsConnection`` (plugins ``failover,host_monitoring``), inserts and reads back rows, crashes
(``kill``) or cuts off (``blackhole``) the writer, prints what the app saw and how long it took, checks
that no acknowledged row was lost, and tears everything down (also on Ctrl-C).

Exit status: 0 if the app recovered on the new writer and every acknowledged row is there, 1 if not
(or if the cluster could not start), 130 if interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomysql
import anyio
import psycopg

from awsasyncwrap import (
    AsyncAwsConnection,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
    release_resources,
)
from awsasyncwrap.testbed import EngineName, Testbed

PLUGINS = "failover,host_monitoring"
WARM_UP_ROWS = 50  # rows written before the fault
AFTER_ROWS = 50  # rows written on the new writer before the app stops
CALL_LIMIT = 30.0  # seconds: an app call that hangs longer fails the demo
RECOVERY_LIMIT = 30.0  # seconds from the fault until the app must write on the new writer
RETRYABLE = (FailoverSuccessError, TransactionResolutionUnknownError)

SQL = {
    "postgres": {
        "create": "CREATE TABLE demo_rows (id int PRIMARY KEY, written_on text NOT NULL)",
        # idempotent, so that an insert whose outcome is unknown can be retried
        "insert": (
            "INSERT INTO demo_rows (id, written_on) VALUES (%s, aurora_db_instance_identifier()) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        "select": "SELECT id FROM demo_rows WHERE id = %s",
        "all": "SELECT id, written_on FROM demo_rows",
        "instance": "SELECT aurora_db_instance_identifier()",
    },
    "mariadb": {
        "create": "CREATE TABLE demo_rows (id int PRIMARY KEY, written_on varchar(16) NOT NULL)",
        "insert": "INSERT IGNORE INTO demo_rows (id, written_on) VALUES (%s, @@report_host)",
        "select": "SELECT id FROM demo_rows WHERE id = %s",
        "all": "SELECT id, written_on FROM demo_rows",
        "instance": "SELECT @@report_host",
    },
}


class Story:
    """Prints one line per event, stamped with the seconds since the demo started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.2f}s] {text}", flush=True)


class StoryHandler(logging.Handler):
    """Tells what the wrapper logs (its failover and monitoring decisions) as part of the story."""

    def __init__(self, story: Story) -> None:
        super().__init__(logging.INFO)
        self.story = story

    def emit(self, record: logging.LogRecord) -> None:
        who = "testbed" if record.name.startswith("awsasyncwrap.testbed") else "wrapper"
        self.story.say(f"{who}: {record.getMessage()}")


def tell_wrapper_logs(story: Story) -> None:
    wrapper = logging.getLogger("awsasyncwrap")
    wrapper.setLevel(logging.INFO)
    wrapper.addHandler(StoryHandler(story))
    wrapper.propagate = False
    logging.getLogger("awsasyncwrap.testbed").setLevel(logging.WARNING)  # the demo tells its part


@dataclass
class App:
    """What the app loop did, as the app saw it."""

    engine: str
    acked: set[int] = field(default_factory=set)
    seen: list[tuple[float, str, int]] = field(default_factory=list)  # (time, error class, row id)
    first_write_on: dict[str, float] = field(default_factory=dict)  # instance id -> first ack time
    readback_misses: int = 0
    unknown: int = 0  # inserts that raised TransactionResolutionUnknownError (outcome unknown)
    landed_before_retry: int = 0  # of those, the ones whose retry found the row already written
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set after every step of the loop

    @property
    def sql(self) -> dict[str, str]:
        return SQL[self.engine]

    async def wait_until(self, condition: Callable[[], bool], what: str, limit: float) -> None:
        """Wait until the app loop made ``condition`` true; fail after ``limit`` seconds."""
        try:
            with anyio.fail_after(limit):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise RuntimeError(f"{what} did not happen within {limit:g} s") from None


async def write(conn: Any, sql: str, params: Any = None) -> int:
    """Run one write on a new cursor; the rows it affected."""
    cur = await conn.cursor()
    try:
        await cur.execute(sql, params)
        return int(cur.rowcount)
    finally:
        with contextlib.suppress(psycopg.Error, aiomysql.Error, OSError):
            await cur.close()


async def run(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on a new cursor (``await conn.cursor()`` suits both drivers); all rows."""
    cur = await conn.cursor()
    try:
        await cur.execute(sql, params)
        return list(await cur.fetchall()) if cur.description is not None else []
    finally:
        with contextlib.suppress(psycopg.Error, aiomysql.Error, OSError):
            await cur.close()  # may fail: the cursor of a connection that failover replaced


async def connect(tb: Testbed) -> AsyncAwsConnection:
    """A wrapped connection through the cluster endpoint, as an app configured for Aurora would open."""
    props: dict[str, Any] = {
        "plugins": PLUGINS,
        # cluster_instance_host_pattern "127.0.K.?" (instance id -> its address); on MariaDB also the
        # aurora-mysql dialect with topology queries that read the emulation
        **tb.wrapper_props(),
        "autocommit": True,
        "failover_timeout_sec": RECOVERY_LIMIT,
        "monitor_disposal_time_ms": 0,
    }
    if tb.engine == "postgres":
        dsn = tb.dsn("cluster", connect_timeout=2)
        return AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, dsn, **props)
        )
    kwargs = tb.connect_kwargs("cluster", connect_timeout=2)
    return AsyncAwsConnection.of(await AsyncAwsConnection.connect(aiomysql.connect, **kwargs, **props))


async def app_loop(conn: AsyncAwsConnection, app: App, story: Story, stop: asyncio.Event) -> None:
    """Insert id 1, 2, 3, ... and read each back; after a failover error retry the same id.

    FailoverSuccessError: the insert never reached the server. TransactionResolutionUnknownError: it was
    in flight, it may have landed; retrying is safe only because the id is an idempotent key (the insert
    does nothing when the row exists), and the demo counts how often the first attempt had landed.
    """
    row_id = 1
    unknown = False  # the last attempt of this id had an unknown outcome
    while not stop.is_set():
        app.changed.set()
        try:
            with anyio.fail_after(CALL_LIMIT):
                written = await write(conn, app.sql["insert"], (row_id,))
        except RETRYABLE as exc:
            app.seen.append((time.monotonic(), type(exc).__name__, row_id))
            if isinstance(exc, TransactionResolutionUnknownError):
                app.unknown += 1
                unknown = True
                name = type(exc).__name__
                story.say(f"app: {name} on the insert of id {row_id}; the id is idempotent: retrying it")
            else:
                story.say(f"app: {type(exc).__name__} on the insert of id {row_id}; retrying it")
            continue
        if unknown and written == 0:
            app.landed_before_retry += 1
        unknown = False
        app.acked.add(row_id)
        host = conn.current_host.host_id if conn.current_host else None
        if host is not None and host not in app.first_write_on:
            app.first_write_on[host] = time.monotonic()
            story.say(f"app: row {row_id} acknowledged by instance {host}")
        try:
            with anyio.fail_after(CALL_LIMIT):
                rows = await run(conn, app.sql["select"], (row_id,))
        except RETRYABLE as exc:
            app.seen.append((time.monotonic(), type(exc).__name__, row_id))
            story.say(f"app: {type(exc).__name__} on the read-back of id {row_id}")
        else:
            app.readback_misses += rows != [(row_id,)]
        row_id += 1
        await asyncio.sleep(0.005)  # pacing: a steady stream of small transactions


async def rows_on(tb: Testbed, sql: str) -> list[tuple[Any, ...]]:
    """All rows, read with a plain driver connection straight from the current writer."""
    if tb.engine == "postgres":
        async with await psycopg.AsyncConnection.connect(tb.dsn(tb.writer), autocommit=True) as pg:
            return await (await pg.execute(sql)).fetchall()
    my = await aiomysql.connect(**tb.connect_kwargs(tb.writer, autocommit=True))
    try:
        cur = await my.cursor()
        await cur.execute(sql)
        return list(await cur.fetchall())
    finally:
        my.close()


async def inject(tb: Testbed, fault: str, story: Story) -> Callable[[], Awaitable[None]]:
    """Break the writer; return what undoes the network part once the app has recovered."""
    old = tb.writer
    if fault == "kill":
        story.say(f"FAULT: writer instance {old.id} crashes (its server process is killed)")

        async def nothing() -> None:
            return None

        return nothing
    story.say(f"FAULT: writer instance {old.id} drops off the network (blackholed: no reset, no answer)")
    tb.net(old, "blackhole")
    tb.net("cluster", "blackhole")  # the app's connection reaches the writer through the endpoint

    async def endpoint_back() -> None:
        tb.net("cluster", "pass")  # "DNS" of the cluster endpoint now names the new writer

    return endpoint_back


async def demo(engine: EngineName, fault: str, story: Story) -> bool:
    print(f"awsasyncwrap failover demo: emulated Aurora {engine} cluster, fault: {fault}", flush=True)
    async with Testbed.start(engine, instances=3) as tb:
        first = tb.instances[0].address[0]
        story.say(
            f"cluster up in {time.monotonic() - story.start:.2f} s: 3 instances {first[:-1]}1-3:{tb.port}, "
            f"writer = instance {tb.writer.id} (data in {tb.base_dir})"
        )
        app = App(engine)
        conn = await connect(tb)
        stop = asyncio.Event()
        loop_task: asyncio.Task[None] | None = None
        try:
            await run(conn, app.sql["create"])
            host, port = tb.cluster_endpoint
            on = (await run(conn, app.sql["instance"]))[0][0]
            story.say(f"app: connected to the cluster endpoint {host}:{port} ({PLUGINS}); on instance {on}")
            loop_task = asyncio.create_task(app_loop(conn, app, story, stop), name="demo-app")
            loop_task.add_done_callback(lambda _: app.changed.set())
            await app.wait_until(lambda: len(app.acked) >= WARM_UP_ROWS or loop_task.done(), "warm-up", 30)
            story.say(f"app: writing and reading back rows; {len(app.acked)} acknowledged so far")
            old = tb.writer
            t_fault = time.monotonic()
            undo = await inject(tb, fault, story)
            report = await tb.failover()
            writable = report.catch_up + report.kill + report.promote + report.writable
            new = report.new_writer
            story.say(
                f"testbed: instance {new} is the new writer; failover took {report.total:.2f} s "
                f"(catch-up {report.catch_up:.2f}, kill {report.kill:.2f}, "
                f"promote {report.promote + report.writable:.2f}, repoint {report.repoint:.2f})"
            )
            await app.wait_until(
                lambda: new in app.first_write_on or loop_task.done(),
                "a write on the new writer",
                RECOVERY_LIMIT,
            )
            await undo()
            target = len(app.acked) + AFTER_ROWS
            await app.wait_until(lambda: len(app.acked) >= target or loop_task.done(), "more writes", 30)
            stop.set()
            await loop_task  # re-raises what ended the app loop early
        finally:
            stop.set()
            if loop_task is not None and not loop_task.done():
                loop_task.cancel()
                await asyncio.gather(loop_task, return_exceptions=True)
            await conn.close()
            await release_resources()
        found = await rows_on(tb, app.sql["all"])
    story.say(f"torn down: servers stopped, proxies closed, {tb.base_dir} removed")

    ids = {int(row[0]) for row in found}
    twice = len(found) - len(ids)
    by_instance = Counter(str(row[1]) for row in found)
    lost = app.acked - ids
    recovered = app.first_write_on[new] - t_fault
    seen = Counter(name for _, name, _ in app.seen)
    first_seen = min((t for t, _, _ in app.seen), default=None)
    print("summary:")
    print(f"  old writer -> new writer:   instance {old.id} -> instance {new}")
    print(
        f"  fault -> first write on the new writer: {recovered:.2f} s = testbed promotion {writable:.2f} s "
        f"+ wrapper {max(recovered - writable, 0.0):.2f} s"
    )
    if first_seen is not None:
        print(f"  fault -> app saw an error:  {first_seen - t_fault:.2f} s")
    saw = ", ".join(f"{count} x {name}" for name, count in sorted(seen.items())) or "no error"
    print(f"  app saw:                    {saw} (the failed call was retried)")
    print(f"  rows acknowledged / found:  {len(app.acked)} / {len(ids)} (lost: {len(lost)})")
    print(
        f"  outcome unknown / had landed / written twice: {app.unknown} / {app.landed_before_retry} / "
        f"{twice} (retried with the same id, an idempotent key)"
    )
    print(f"  rows by writer instance:    {', '.join(f'{k}: {v}' for k, v in sorted(by_instance.items()))}")
    print(f"  read-backs that missed:     {app.readback_misses}")
    problems = []
    if lost:
        problems.append(f"{len(lost)} acknowledged row(s) lost: {sorted(lost)[:10]}")
    if twice:
        problems.append(f"{twice} row(s) written twice")
    if app.readback_misses:
        problems.append(f"{app.readback_misses} row(s) not read back after their insert")
    if not app.seen:
        problems.append("the app saw no failover")
    if problems:
        print("RESULT: FAILED: " + "; ".join(problems), flush=True)
        return False
    print("RESULT: OK: the app recovered on the new writer and no acknowledged row was lost", flush=True)
    return True


async def amain(engine: EngineName, fault: str) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)  # unwinds through the teardown
    story = Story()
    tell_wrapper_logs(story)
    try:
        return 0 if await demo(engine, fault, story) else 1
    except asyncio.CancelledError:
        print("interrupted: everything was torn down", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # the demo's verdict: whatever went wrong, say it in one line
        print(f"RESULT: FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgres", "mariadb"], default="postgres")
    parser.add_argument(
        "--fault",
        choices=["kill", "blackhole"],
        default="kill",
        help="kill: the writer's server process dies; blackhole: the writer stops answering (network cut)",
    )
    args = parser.parse_args(argv)
    engine: EngineName = "mariadb" if args.engine == "mariadb" else "postgres"
    return asyncio.run(amain(engine, args.fault))


if __name__ == "__main__":
    sys.exit(main())
