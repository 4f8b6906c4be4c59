"""An Aurora PostgreSQL Limitless shard group on a testbed: transaction routers with settable load.

Each router is a proxy on its own loopback address (``127.0.K.220`` and up) in front of the testbed's
writer, listed with its load by ``pg_catalog.aurora_limitless_router_endpoints()`` (a table the testbed
updates: :meth:`LimitlessShardGroup.set_load`). The shard group endpoint
(``<name>.shardgrp-<id>.<region>.rds.amazonaws.com``, resolved in this process) is a proxy that sends
each new connection to the next live router, as its DNS would. :meth:`kill_router` resets a router's
connections and refuses new ones; :meth:`start_router` brings it back.
"""

from __future__ import annotations

import itertools
from typing import Any

from ._cluster import Testbed
from ._errors import TestbedError
from ._ports import _listener
from ._proxy import FaultProxy
from ._resolver import NameTable, write_hosts_file

__all__ = ["LimitlessShardGroup"]

_ENDPOINT_OCTET = 219
_FIRST_ROUTER_OCTET = 220

_SETUP = """
CREATE SCHEMA IF NOT EXISTS aurora_emul;
CREATE TABLE IF NOT EXISTS aurora_emul.limitless_routers (
  router_endpoint text PRIMARY KEY, load float8 NOT NULL
);
CREATE OR REPLACE FUNCTION pg_catalog.aurora_limitless_router_endpoints()
  RETURNS TABLE (router_endpoint text, load float8)
  LANGUAGE sql STABLE
  AS 'SELECT router_endpoint, load FROM aurora_emul.limitless_routers ORDER BY 1';
GRANT USAGE ON SCHEMA aurora_emul TO PUBLIC;
GRANT SELECT ON aurora_emul.limitless_routers TO PUBLIC;
"""

_TEARDOWN = """
DROP FUNCTION IF EXISTS pg_catalog.aurora_limitless_router_endpoints();
DROP TABLE IF EXISTS aurora_emul.limitless_routers;
"""


class LimitlessShardGroup:
    """Routers and the shard group endpoint of a PostgreSQL :class:`Testbed` (see the module docstring)."""

    def __init__(self, tb: Testbed, host: str, table: NameTable) -> None:
        self.testbed = tb
        self.host = host
        self._table = table
        self._routers: list[FaultProxy] = []
        self._endpoint: FaultProxy | None = None
        self._turn = itertools.count()

    @classmethod
    async def create(
        cls, tb: Testbed, routers: int = 3, *, name: str = "mydb", region: str = "us-east-1"
    ) -> LimitlessShardGroup:
        """``routers`` transaction routers (1..30), each at load 0, behind a shard group endpoint."""
        if tb.engine != "postgres":
            raise TestbedError("Limitless is an Aurora PostgreSQL feature: use a postgres testbed")
        if not 1 <= routers <= 30:
            raise TestbedError(f"bad router count {routers!r}; valid: 1..30")
        k = tb.cluster_endpoint[0].split(".")[2]
        zone = f"shardgrp-tb{k}.{region}.rds.amazonaws.com"
        group = cls(tb, f"{name}.{zone}", NameTable((zone,)))
        for i in range(routers):
            sock = _listener(f"127.0.{k}.{_FIRST_ROUTER_OCTET + i}", tb.port)
            group._routers.append(FaultProxy(sock, group._writer, name=f"router-{i}"))
        endpoint_sock = _listener(f"127.0.{k}.{_ENDPOINT_OCTET}", tb.port)
        group._endpoint = FaultProxy(endpoint_sock, group._next_router, name="shard-group")
        for proxy in (*group._routers, group._endpoint):
            await proxy.start()
        await group._sql(_SETUP)
        await group._sql(
            "INSERT INTO aurora_emul.limitless_routers VALUES "
            + ", ".join(f"('{r}', 0)" for r in group.routers)
            + " ON CONFLICT (router_endpoint) DO UPDATE SET load = 0"
        )
        group._table.set({group.host: endpoint_sock.getsockname()[0]})
        group._table.install()
        return group

    @property
    def routers(self) -> list[str]:
        """The routers' host names (their loopback addresses), as the router function lists them."""
        return [proxy.address[0] for proxy in self._routers]

    def connections(self, index: int) -> int:
        """Live connections through router ``index``."""
        return self._routers[index].connections

    async def set_load(self, index: int, load: float) -> None:
        """What the router function reports as router ``index``'s load (0.0 idle .. 1.0 saturated)."""
        await self._sql(
            f"UPDATE aurora_emul.limitless_routers SET load = {float(load)!r} "
            f"WHERE router_endpoint = '{self.routers[index]}'"
        )

    def kill_router(self, index: int) -> None:
        """Router ``index`` drops its connections and refuses new ones (still listed, as after a crash)."""
        proxy = self._routers[index]
        proxy.set_mode("reset")
        proxy.set_mode("refuse")

    def start_router(self, index: int) -> None:
        self._routers[index].set_mode("pass")

    def _writer(self) -> tuple[str, int] | None:
        writer = self.testbed.writer
        return ("127.0.0.1", writer.node_port) if writer.running else None

    def _next_router(self) -> tuple[str, int] | None:
        live = [p for p in self._routers if p.mode == "pass"]
        if not live:
            return None
        return live[next(self._turn) % len(live)].address

    async def _sql(self, sql: str) -> None:
        import psycopg

        conn: Any = await psycopg.AsyncConnection.connect(self.testbed.dsn(self.testbed.writer, direct=True))
        try:
            await conn.set_autocommit(True)
            await conn.execute(sql)
        finally:
            await conn.close()

    async def aclose(self) -> None:
        """Forget the name, stop every proxy, and drop the router function and table (if the writer is up)."""
        self._table.uninstall()
        for proxy in (*self._routers, *([self._endpoint] if self._endpoint else [])):
            await proxy.aclose()
        if self.testbed.writer.running:
            await self._sql(_TEARDOWN)


async def daemon_command(
    tb: Testbed, groups: dict[str, LimitlessShardGroup], req: dict[str, Any]
) -> list[str]:
    """The CLI's ``limitless`` command, run by the daemon (``groups``: at most one, under ``"group"``)."""
    action = req.get("action")
    group = groups.get("group")
    if action == "create":
        if group is not None:
            raise TestbedError("a shard group exists; `limitless delete` it first")
        groups["group"] = group = await LimitlessShardGroup.create(tb, int(req.get("routers") or 3))
    elif group is None:
        raise TestbedError("no shard group; run `limitless create` first")
    elif action == "delete":
        await groups.pop("group").aclose()
        return ["shard group deleted"]
    else:
        index = _router_index(group, req.get("router"))
        if action == "load":
            await group.set_load(index, float(req.get("load") or 0.0))
        elif action == "kill":
            group.kill_router(index)
        elif action == "start":
            group.start_router(index)
        else:
            raise TestbedError(f"bad limitless action {action!r}; valid: create, load, kill, start, delete")
    hosts = tb.base_dir / "hosts-limitless"
    write_hosts_file(hosts, group._table.zones, group._table.names)
    return [
        f"shard group endpoint {group.host} -> routers {', '.join(group.routers)}",
        f"resolve the name in your process: awsasyncwrap.testbed.use_hosts_file({str(hosts)!r})",
    ]


def _router_index(group: LimitlessShardGroup, raw: object) -> int:
    count = len(group.routers)
    try:
        index = int(str(raw))
    except ValueError:
        index = -1
    if not 0 <= index < count:
        raise TestbedError(f"bad router {raw!r}; valid: 0..{count - 1}")
    return index
