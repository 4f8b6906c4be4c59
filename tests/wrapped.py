"""Wrapped connections to a testbed with either driver (psycopg or aiomysql), shared by the test packages."""

from __future__ import annotations

from typing import Any

import aiomysql
import psycopg

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.testbed import Instance, Testbed

__all__ = ["Db", "Target", "connect"]

Target = Instance | str | tuple[str, int] | None


async def connect(
    tb: Testbed, target: Target = None, *, aurora: bool = True, **props: Any
) -> AsyncAwsConnection:
    """A wrapped connection to ``target`` of ``tb`` (default: the cluster endpoint; ``Testbed.address_of``).

    ``aurora``: with ``tb.wrapper_props()`` (the wrapper treats the testbed as an Aurora cluster); without
    them a MariaDB testbed is a plain MariaDB server. ``props`` override both and the driver's arguments.
    """
    settings = {**tb.wrapper_props(), **props} if aurora else props
    if tb.engine == "postgres":
        return AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, tb.dsn(target), **settings)
        )
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(aiomysql.connect, **{**tb.connect_kwargs(target), **settings})
    )


class Db:
    """A testbed plus how to talk to it with either driver."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"

    async def connect(
        self, target: Target = None, *, aurora: bool = True, **props: Any
    ) -> AsyncAwsConnection:
        """A wrapped autocommit connection (see :func:`connect`); unused monitors are disposed of at once."""
        props = {"autocommit": True, "monitor_disposal_time_ms": 0, **props}
        return await connect(self.tb, target, aurora=aurora, **props)

    @staticmethod
    async def run(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a new cursor; all rows (if any)."""
        cur = conn.cursor()
        if hasattr(cur, "__await__"):  # aiomysql style
            cur = await cur
        try:
            await cur.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []
        finally:
            await cur.close()

    async def host_id(self, conn: Any) -> str:
        """The instance id of the server the connection is on."""
        sql = "SELECT aurora_db_instance_identifier()" if self.pg else "SELECT @@report_host"
        return str((await self.run(conn, sql))[0][0])

    async def is_reader(self, conn: Any) -> bool:
        sql = "SELECT pg_is_in_recovery()" if self.pg else "SELECT @@read_only"
        return bool((await self.run(conn, sql))[0][0])

    async def begin(self, conn: AsyncAwsConnection) -> None:
        """Open a transaction with a connection-level call (psycopg: autocommit off and a statement;
        aiomysql: BEGIN)."""
        if self.pg:
            await conn.set_autocommit(False)
            await self.run(conn, "SELECT 1")
        else:
            await conn.begin()
