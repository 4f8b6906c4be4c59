"""Small helpers for integration tests."""

from __future__ import annotations

import functools
from typing import Any

import polling
from awsasyncwrap import Plugin, PluginFactory, PluginManager
from awsasyncwrap.plugin import ExecuteFunc, T

#: Poll an async condition every 20 ms until it holds; fail after 10 s.
wait_for = functools.partial(polling.until, every=0.02)


async def pg_query_running(dsn: str, fragment: str) -> bool:
    """Whether a query containing ``fragment`` is running on the server."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        cur = await raw.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        )
        row = await cur.fetchone()
        return bool(row and row[0])


async def mysql_query_running(kwargs: dict[str, object], fragment: str) -> bool:
    """Whether a query containing ``fragment`` is running on the server."""
    import aiomysql

    conn = await aiomysql.connect(**kwargs)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.processlist"
                " WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{fragment}%",),
            )
            row = await cur.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()


class RecordingPlugin(Plugin):
    """Records every network-bound call that reaches the pipeline: (method name, arguments)."""

    subscribed_methods = frozenset({"*"})

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        self.calls.append((method_name, args))
        return await execute_func()

    def names(self) -> list[str]:
        """The method names seen, in order."""
        return [name for name, _ in self.calls]

    @staticmethod
    def of(conn: Any) -> RecordingPlugin:
        """The recorder of a connection opened with ``plugins="api_recorder"``."""
        return next(p for p in conn.plugin_service.plugins if isinstance(p, RecordingPlugin))


class _RecordingFactory(PluginFactory):
    def get_instance(self, plugin_service: Any, props: Any) -> Plugin:
        return RecordingPlugin()


PluginManager.register_plugin("api_recorder", _RecordingFactory)
