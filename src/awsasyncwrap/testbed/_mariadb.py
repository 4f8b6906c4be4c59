"""MariaDB nodes: one install-db, copied datadirs, GTID replication, topology in ``aurora_emul``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import anyio

from ._engine import Engine, EngineOptions, NodeState
from ._errors import TestbedError
from ._gtid import gtid_progress, gtid_triples, has_received
from ._mariadb_admin import admin_query
from ._model import Instance
from ._proc import (
    OsUser,
    check_reachable,
    chown,
    clean_env,
    cmdline,
    ensure_os_user,
    is_root,
    kill_tree_by_path,
    pid_alive,
    remove_tree,
    run,
    tail,
)
from ._sql import sql_statements, sql_text
from ._wait import until

__all__ = ["MariaDBEngine", "find_mariadb"]

logger = logging.getLogger(__name__)

_REPL_USER = "repl"
_REPL_PASSWORD = "repl"
_SOCKET_MAX = 100  # sun_path is 108 bytes
_REPLAY_SERVER_ID = 1000  # + instance number: a rebuilt node's server id while it replays the history
_ER_MASTER_FATAL_READING_BINLOG = 1236  # e.g. a diverged ex-writer asking for GTIDs the writer lacks

#: Points the wrapper's aurora-mysql dialect at the emulation: the ``aurora_emul.replica_host_status``
#: view (the columns of ``information_schema.replica_host_status``), ``@@report_host`` = instance id,
#: ``@@read_only`` = reader (``@@aurora_server_id`` and ``@@innodb_read_only`` are not emulated).
_WRAPPER_PROPS = {
    "wrapper_dialect": "aurora-mysql",
    "topology_query": (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, "
        "REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM aurora_emul.replica_host_status"
    ),
    "host_id_query": "SELECT @@report_host",
    "is_reader_query": "SELECT @@read_only",
}


def find_mariadb(bin_dir: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """(mariadbd, mariadb-install-db): from ``bin_dir``, ``$AWSASYNCWRAP_TESTBED_MARIADB_BIN`` or PATH."""
    chosen = bin_dir or os.environ.get("AWSASYNCWRAP_TESTBED_MARIADB_BIN")
    dirs = [Path(chosen)] if chosen else []
    search = os.pathsep.join([*(str(d) for d in dirs), os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
    server = shutil.which("mariadbd", path=search) or shutil.which("mysqld", path=search)
    install = shutil.which("mariadb-install-db", path=search) or shutil.which("mysql_install_db", path=search)
    if server is None or install is None:
        raise TestbedError(
            "no MariaDB server binaries (mariadbd, mariadb-install-db): install the mariadb-server package "
            "or set AWSASYNCWRAP_TESTBED_MARIADB_BIN"
        )
    return Path(server), Path(install)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


async def _dead(pid: int) -> bool:
    return not pid_alive(pid)  # a zombie counts as dead


class MariaDBEngine(Engine):
    """Nodes are ``mariadbd`` children of this process; node 1 is installed, the others are copies."""

    name = "mariadb"
    user = "test"
    password = "test"
    database = "test"

    def __init__(self, options: EngineOptions) -> None:
        super().__init__(options)
        self.server = Path()
        self.install_db = Path()
        self.os_user = OsUser(None)
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pristine = options.base_dir / "pristine"
        self._tmp = options.base_dir / "tmp"
        self._fresh: set[str] = set()  # rebuilt from the pristine datadir, history not replayed yet

    def wrapper_props(self) -> dict[str, str]:
        return dict(_WRAPPER_PROPS)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _socket(inst: Instance) -> Path:
        return inst.data_dir.parent / "mysqld.sock"

    @staticmethod
    def _pid_file(inst: Instance) -> Path:
        return inst.data_dir.parent / "mariadbd.pid"

    async def _query(
        self, inst: Instance, *statements: str, args: tuple[Any, ...] | None = None
    ) -> list[dict[str, Any]]:
        """Run statements on one root connection; return the last one's rows (as dicts)."""
        return await admin_query(self._socket(inst), f"mariadb instance {inst.id}", statements, args)

    async def _slave_status(self, inst: Instance) -> dict[str, Any] | None:
        rows = await self._query(inst, "SHOW SLAVE STATUS")
        return rows[0] if rows else None

    # -- Engine ----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        self.server, self.install_db = find_mariadb(self.options.bin_dir)
        self.os_user = await ensure_os_user("mysql")
        base = self.options.base_dir
        os.chmod(base, 0o755)
        await check_reachable(base, self.os_user)
        longest = base / "n99" / "mysqld.sock"
        if len(str(longest)) > _SOCKET_MAX:
            raise TestbedError(f"base dir {base} is too long for unix sockets; use a shorter one")
        logger.debug("mariadb binaries %s, os user %s", self.server, self.os_user.name)

    async def bootstrap(self, instances: list[Instance]) -> None:
        first, rest = instances[0], instances[1:]
        for inst in instances:
            inst.data_dir.parent.mkdir(mode=0o750)
            chown(inst.data_dir.parent, self.os_user)
        self._tmp.mkdir(mode=0o750)
        chown(self._tmp, self.os_user)
        user_args = [f"--user={self.os_user.name}"] if is_root() and self.os_user.name else []
        install = [str(self.install_db), "--no-defaults", *user_args, f"--datadir={self._pristine}"]
        await run(
            [
                *install,
                f"--tmpdir={self._tmp}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=16M",
            ],
            cwd=self.options.base_dir,
            timeout=self.options.timeout,
        )
        # copies of a never-started datadir: same empty GTID history everywhere
        await asyncio.gather(
            *(run(["cp", "-a", str(self._pristine), str(inst.data_dir)], timeout=60) for inst in instances)
        )
        await asyncio.gather(*(self.start(inst, writer=inst is first) for inst in instances))
        for inst in instances:
            inst.running = True
        await self._query(first, *sql_statements(sql_text("aurora_mariadb.sql")))
        await self._query(
            first,
            f"CREATE USER '{_REPL_USER}'@'%' IDENTIFIED BY '{_REPL_PASSWORD}'",
            f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{_REPL_USER}'@'%'",
            f"CREATE DATABASE IF NOT EXISTS `{self.database}`",
            f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'",
            # schema-level grants only: ALL ON *.* includes READ_ONLY ADMIN (writes on read-only replicas)
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'%'",
            f"GRANT SELECT ON aurora_emul.* TO '{self.user}'@'%'",
            f"GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{self.user}'@'%'",
        )
        try:
            with anyio.fail_after(self.options.timeout):
                followed = await asyncio.gather(*(self.follow(inst, first) for inst in rest))
                for inst, ok in zip(rest, followed, strict=True):
                    if not ok:
                        raise TestbedError(f"instance {inst.id} does not replicate; see {inst.log_file}")
                await self.publish_topology(first, instances)
                for inst in rest:
                    await self.catch_up(first, inst)
        except TimeoutError:
            raise TestbedError(
                f"replicas did not catch up with instance {first.id}; see their logs"
            ) from None

    async def start(self, inst: Instance, *, writer: bool) -> None:
        args = [
            str(self.server),
            "--no-defaults",
            *([f"--user={self.os_user.name}"] if is_root() and self.os_user.name else []),
            f"--datadir={inst.data_dir}",
            f"--tmpdir={self._tmp}",
            "--bind-address=127.0.0.1",
            f"--port={inst.node_port}",
            f"--socket={self._socket(inst)}",
            f"--pid-file={self._pid_file(inst)}",
            f"--log-error={inst.log_file}",
            f"--server-id={inst.number}",
            f"--report-host={inst.id}",
            "--log-bin=mysql-bin",
            "--relay-log=relay-bin",
            "--binlog-format=ROW",
            "--log-slave-updates=1",
            "--gtid-strict-mode=1",
            f"--read-only={0 if writer else 1}",
            "--skip-name-resolve",
            "--skip-slave-start",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            "--performance-schema=0",
            "--max-connections=300",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ]
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.options.base_dir,
            env=clean_env(),
            start_new_session=True,
        )
        self._procs[inst.id] = proc

        async def answers() -> bool:
            if proc.returncode is not None:
                raise TestbedError(f"instance {inst.id} exited during startup; log: {tail(inst.log_file, 3)}")
            try:
                await self._query(inst, "SELECT 1")
            except TestbedError:
                return False
            return True

        try:
            with anyio.fail_after(self.options.timeout):
                await until(answers)
        except BaseException as exc:
            await self.kill(inst)
            if isinstance(exc, TimeoutError):
                raise TestbedError(
                    f"instance {inst.id} did not start; log: {tail(inst.log_file, 3)}"
                ) from None
            raise
        logger.debug("instance %s started on port %d (pid %d)", inst.id, inst.node_port, proc.pid)

    def server_pid(self, inst: Instance) -> int | None:
        proc = self._procs.get(inst.id)
        return proc.pid if proc is not None else _read_pid(self._pid_file(inst))

    async def kill(self, inst: Instance) -> None:
        proc = self._procs.pop(inst.id, None)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()  # reaps it: no zombie
            return
        pid = _read_pid(self._pid_file(inst))
        if (
            pid and pid_alive(pid) and str(inst.data_dir) in cmdline(pid)
        ):  # not ours: started by a dead daemon
            os.kill(pid, signal.SIGKILL)
            with anyio.move_on_after(10):
                await until(lambda: _dead(pid))

    async def stop_all(self, instances: list[Instance]) -> None:
        await asyncio.gather(*(self.kill(inst) for inst in instances), return_exceptions=True)
        await kill_tree_by_path(self.options.base_dir)

    async def position(self, inst: Instance) -> int:
        rows = await self._query(inst, "SELECT @@gtid_binlog_pos AS b, @@gtid_slave_pos AS s")
        status = await self._slave_status(inst)
        io_pos = status.get("Gtid_IO_Pos") if status else None
        return max(gtid_progress(rows[0]["b"]), gtid_progress(rows[0]["s"]), gtid_progress(io_pos))

    async def catch_up(self, writer: Instance, replica: Instance) -> None:
        pos = (await self._query(writer, "SELECT @@gtid_binlog_pos AS p"))[0]["p"]

        async def applied() -> bool:  # short server-side waits, so a cancelled caller leaves nothing behind
            rows = await self._query(replica, "SELECT MASTER_GTID_WAIT(%s, 0.2) AS r", args=(pos,))
            return bool(rows[0]["r"] == 0)

        if pos:
            await until(applied, interval=0)

    async def promote(self, inst: Instance) -> None:
        await self._query(inst, "STOP SLAVE IO_THREAD")
        status = await self._slave_status(inst)
        io_pos = status.get("Gtid_IO_Pos") if status else None
        if io_pos:  # apply what the relay log already holds
            rows = await self._query(
                inst, "SELECT MASTER_GTID_WAIT(%s, %s) AS r", args=(io_pos, self.options.timeout)
            )
            if rows[0]["r"] != 0:
                logger.warning("instance %s did not apply its relay log before promotion", inst.id)
        await self._query(inst, "STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0")

    async def wait_writable(self, inst: Instance) -> None:
        async def writable() -> bool:
            return not (await self._query(inst, "SELECT @@read_only AS ro"))[0]["ro"]

        await until(writable)

    async def _probe(self, writer: Instance) -> tuple[int, int, int]:
        """Write a heartbeat on ``writer``; its GTID (domain, server id, sequence number)."""
        rows = await self._query(
            writer,
            "INSERT INTO aurora_emul.heartbeat (id, beats) VALUES (1, 1) "
            "ON DUPLICATE KEY UPDATE beats = beats + 1",
            "SELECT @@last_gtid AS g",
        )
        gtids = gtid_triples(rows[0]["g"])
        if not gtids:
            raise TestbedError(f"mariadb instance {writer.id}: no GTID for the heartbeat write")
        return gtids[0]

    async def follow(self, inst: Instance, writer: Instance) -> bool:
        # "Slave_IO_Running: Yes" comes before the master checks the replica's GTID position: a
        # diverged replica looks fine for a moment, then stops with error 1236. Only a fresh event
        # from the master, received by the replica, proves that the master accepted it.
        status = await self._slave_status(inst)
        fresh = inst.id in self._fresh
        if not (
            status
            and int(status["Master_Port"]) == writer.node_port
            and status["Slave_IO_Running"] == "Yes"
            and status["Slave_SQL_Running"] == "Yes"
        ):
            with contextlib.suppress(TestbedError):
                await self._query(inst, "STOP SLAVE")
            setup = ["SET GLOBAL read_only = 1"]
            if status is None:  # never replicated, or an ex-writer: continue after its own binlog
                setup.append("SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
            if fresh:  # replaying the whole history: a replica skips events carrying its own server id
                setup.append(f"SET GLOBAL server_id = {_REPLAY_SERVER_ID + inst.number}")
            await self._query(
                inst,
                *setup,
                f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={writer.node_port}, "
                f"MASTER_USER='{_REPL_USER}', MASTER_PASSWORD='{_REPL_PASSWORD}', "
                "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
                "START SLAVE",
            )
        probe = await self._probe(writer)
        failed: list[str] = []

        async def replicating() -> bool:
            status = await self._slave_status(inst)
            if status is None:
                return False
            if status["Last_IO_Errno"] == _ER_MASTER_FATAL_READING_BINLOG or status["Last_SQL_Errno"]:
                failed.append(status["Last_IO_Error"] or status["Last_SQL_Error"])
                return True
            return bool(
                status["Slave_IO_Running"] == "Yes"
                and status["Slave_SQL_Running"] == "Yes"
                and has_received(status["Gtid_IO_Pos"], probe)
            )

        await until(replicating)
        if failed:
            logger.info("instance %s cannot replicate from %s: %s", inst.id, writer.id, failed[0])
            return False
        if fresh:
            await self.catch_up(writer, inst)
            await self._query(inst, "STOP SLAVE", f"SET GLOBAL server_id = {inst.number}", "START SLAVE")
            await until(replicating)
            self._fresh.discard(inst.id)
        return not failed

    def needs_rebuild(self, inst: Instance) -> bool:
        return False  # follow() turns an ex-writer into a replica; divergence makes it fail -> rebuild

    async def rebuild(self, inst: Instance, writer: Instance) -> None:
        # a fresh datadir replays the writer's whole binlog (binlogs are never purged here)
        await remove_tree(inst.data_dir)
        await run(["cp", "-a", str(self._pristine), str(inst.data_dir)], timeout=60)
        self._fresh.add(inst.id)

    async def publish_topology(self, writer: Instance, instances: list[Instance]) -> None:
        rows = ", ".join(
            f"('{inst.id}', {int(inst is writer)}, '{inst.address[0]}', {inst.address[1]})"
            for inst in instances
            if inst.running
        )
        await self._query(
            writer,
            "START TRANSACTION",
            "DELETE FROM aurora_emul.instances",
            f"INSERT INTO aurora_emul.instances (SERVER_ID, IS_WRITER, HOST, PORT) VALUES {rows}",
            "COMMIT",
        )

    async def topology_view(self, inst: Instance) -> tuple[frozenset[str], tuple[str, ...]]:
        rows = await self._query(
            inst,
            "SELECT SERVER_ID AS s, SESSION_ID = 'MASTER_SESSION_ID' AS w "
            "FROM aurora_emul.replica_host_status",
        )
        return frozenset(str(r["s"]) for r in rows), tuple(sorted(str(r["s"]) for r in rows if r["w"]))

    async def node_state(self, inst: Instance) -> NodeState:
        try:
            read_only = (await self._query(inst, "SELECT @@read_only AS ro"))[0]["ro"]
            status = await self._slave_status(inst)
            hosts = len(await self._query(inst, "SHOW SLAVE HOSTS"))
        except TestbedError:
            return NodeState(reachable=False)
        if status is None:
            return NodeState(True, writable=not read_only, replication=f"{hosts} replica(s)")
        io, sql_ = status["Slave_IO_Running"], status["Slave_SQL_Running"]
        running = io == "Yes" and sql_ == "Yes"
        error = status["Last_IO_Error"] or status["Last_SQL_Error"]
        text = "running" if running else f"io={io} sql={sql_}" + (f": {error}" if error else "")
        # how far the applier is behind what the replica received (a lagging SQL thread is "running" too)
        text += f" ({status['Seconds_Behind_Master']} s behind, received {status['Gtid_IO_Pos'] or '-'})"
        return NodeState(
            True,
            writable=not read_only,
            upstream_port=int(status["Master_Port"]) if running else None,
            replication=text,
        )
