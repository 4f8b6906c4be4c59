"""Engine-specific steps of a blue/green deployment: seeding green nodes, status metadata, read-only blue.

Metadata, as RDS publishes it on every node of both environments:

- PostgreSQL: ``pg_catalog.get_blue_green_fast_switchover_metadata(text)`` (Aurora's function), reading
  ``aurora_emul.bg_status``;
- MariaDB: the ``mysql.rds_topology`` table (RDS MySQL's).

Rows: ``version`` ('1.0'), ``endpoint`` (a host name), ``port``, ``role``
('BLUE_GREEN_DEPLOYMENT_SOURCE' / 'BLUE_GREEN_DEPLOYMENT_TARGET') and ``status`` ('AVAILABLE',
'SWITCHOVER_INITIATED', 'SWITCHOVER_IN_PROGRESS', 'SWITCHOVER_IN_POST_PROCESSING', 'SWITCHOVER_COMPLETED').
Both are created on the blue writer and reach the blue readers and the green nodes by replication;
once green is promoted each writer gets its own updates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._engine import Engine
from ._model import Instance
from ._proc import chown

__all__ = ["drop_metadata", "install_metadata", "seed_green", "set_blue_read_only", "set_status"]

SOURCE = "BLUE_GREEN_DEPLOYMENT_SOURCE"
TARGET = "BLUE_GREEN_DEPLOYMENT_TARGET"

_PG_METADATA = """
CREATE TABLE IF NOT EXISTS aurora_emul.bg_status (
  endpoint text PRIMARY KEY, port integer NOT NULL, role text NOT NULL, status text NOT NULL,
  version text NOT NULL DEFAULT '1.0');
CREATE OR REPLACE FUNCTION pg_catalog.get_blue_green_fast_switchover_metadata(client text)
RETURNS TABLE (version text, endpoint text, port integer, role text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
  SELECT s.version, s.endpoint, s.port, s.role, s.status FROM aurora_emul.bg_status s ORDER BY s.endpoint
$$;
GRANT EXECUTE ON FUNCTION pg_catalog.get_blue_green_fast_switchover_metadata(text) TO PUBLIC;
"""

_MARIADB_METADATA = (
    "CREATE TABLE IF NOT EXISTS mysql.rds_topology ("
    " endpoint varchar(255) NOT NULL PRIMARY KEY, port int NOT NULL, role varchar(64) NOT NULL,"
    " status varchar(64) NOT NULL, version varchar(16) NOT NULL DEFAULT '1.0') ENGINE=InnoDB"
)


def _literal(value: object) -> str:
    text = str(value)
    if "'" in text or "\\" in text:
        raise ValueError(f"bad metadata value {text!r}")
    return f"'{text}'"


def _rows_sql(rows: list[tuple[str, int, str, str]]) -> str:
    return ", ".join(f"({_literal(e)}, {int(p)}, {_literal(r)}, {_literal(s)})" for e, p, r, s in rows)


async def seed_green(
    engine: Engine, blue_engine: Engine, green: list[Instance], blue_writer: Instance
) -> None:
    """Create and start the green nodes as replicas of the blue writer (all of them, directly)."""
    pg: Any = engine
    if engine.name == "postgres":
        for inst in green:
            node_dir = inst.data_dir.parent
            node_dir.mkdir(mode=0o700)
            chown(node_dir, pg.os_user)
            pg._write(node_dir / "node.conf", f"port = {inst.node_port}\ncluster_name = '{inst.id}'\n")
        await asyncio.gather(*(engine.rebuild(inst, blue_writer) for inst in green))
        # stream as "aurora_emul": the blue writer's topology leaves such replicas out
        conninfo = f"host=127.0.0.1 port={blue_writer.node_port} user=postgres application_name=aurora_emul"
        for inst in green:
            pg._write(
                inst.data_dir / "postgresql.auto.conf", f"primary_conninfo = '{conninfo}'\n", append=True
            )
        await asyncio.gather(*(engine.start(inst, writer=False) for inst in green))
        for inst in green:
            inst.running = True
        await asyncio.gather(*(engine.catch_up(blue_writer, inst) for inst in green))
        return
    my: Any = engine
    my._pristine = blue_engine._pristine  # type: ignore[attr-defined]
    my._tmp.mkdir(mode=0o750)
    chown(my._tmp, my.os_user)
    for inst in green:
        inst.data_dir.parent.mkdir(mode=0o750)
        chown(inst.data_dir.parent, my.os_user)
    await asyncio.gather(*(engine.rebuild(inst, blue_writer) for inst in green))
    await asyncio.gather(*(engine.start(inst, writer=False) for inst in green))
    for inst in green:
        inst.running = True
    followed = await asyncio.gather(*(engine.follow(inst, blue_writer) for inst in green))
    if not all(followed):
        from ._errors import TestbedError

        raise TestbedError("a green node does not replicate from the blue writer; see its log")


async def install_metadata(engine: Engine, writer: Instance, rows: list[tuple[str, int, str, str]]) -> None:
    """Create the metadata on ``writer`` with ``rows`` (endpoint, port, role, status)."""
    e: Any = engine
    if engine.name == "postgres":
        await e._query(writer.node_port, _PG_METADATA)
        await e._query(
            writer.node_port,
            "DELETE FROM aurora_emul.bg_status; "
            f"INSERT INTO aurora_emul.bg_status (endpoint, port, role, status) VALUES {_rows_sql(rows)}",
        )
        return
    await e._query(
        writer,
        _MARIADB_METADATA,
        f"GRANT SELECT ON mysql.rds_topology TO '{engine.user}'@'%'",
        "DELETE FROM mysql.rds_topology",
        f"INSERT INTO mysql.rds_topology (endpoint, port, role, status) VALUES {_rows_sql(rows)}",
    )


async def drop_metadata(engine: Engine, writer: Instance) -> None:
    """Remove the metadata (the deployment is deleted: the phase goes back to NOT_CREATED)."""
    e: Any = engine
    if engine.name == "postgres":
        await e._query(
            writer.node_port,
            "BEGIN READ WRITE; "
            "DROP FUNCTION IF EXISTS pg_catalog.get_blue_green_fast_switchover_metadata(text); "
            "DROP TABLE IF EXISTS aurora_emul.bg_status; COMMIT",
        )
        return
    await e._query(writer, "DROP TABLE IF EXISTS mysql.rds_topology")


async def set_status(engine: Engine, writer: Instance, status: str) -> None:
    """Set every row's status on ``writer`` (which may be read-only to clients)."""
    e: Any = engine
    if engine.name == "postgres":
        await e._query(
            writer.node_port,
            f"BEGIN READ WRITE; UPDATE aurora_emul.bg_status SET status = {_literal(status)}; COMMIT",
        )
        return
    await e._query(writer, f"UPDATE mysql.rds_topology SET status = {_literal(status)}")


async def set_blue_read_only(engine: Engine, writer: Instance, read_only: bool) -> None:
    """Make the blue writer refuse (or accept again) client writes; not replicated."""
    e: Any = engine
    if engine.name == "postgres":
        stmt = (
            "ALTER SYSTEM SET default_transaction_read_only = on"
            if read_only
            else "ALTER SYSTEM RESET default_transaction_read_only"
        )
        await e._query(writer.node_port, stmt)
        await e._query(writer.node_port, "SELECT pg_reload_conf()")
        return
    await e._query(writer, f"SET GLOBAL read_only = {int(read_only)}")
