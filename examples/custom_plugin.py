"""A custom plugin, as in the AWS Advanced Python Wrapper's guide, written for awsasyncwrap.

Run against PostgreSQL:
    python examples/custom_plugin.py --dsn "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
Run against MySQL:
    python examples/custom_plugin.py --mysql host=127.0.0.1 port=3306 user=u password=p db=test
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from awsasyncwrap import (
    AsyncAwsConnection,
    ConnectionEvent,
    DriverDialect,
    HostInfo,
    OldConnectionSuggestedAction,
    Plugin,
    PluginFactory,
    PluginManager,
    PluginService,
    Properties,
    WrapperProperties,
)
from awsasyncwrap.plugin import ConnectFunc, ExecuteFunc


class CustomPlugin(Plugin):
    """Says when the connection changes; takes part in nothing else."""

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        self._plugin_service = plugin_service
        self._props = props

    @property
    def subscribed_methods(self) -> set[str]:
        return {"notify_connection_changed"}

    async def notify_connection_changed(self, changes: set[ConnectionEvent]) -> OldConnectionSuggestedAction:
        print("The connection has changed:", ", ".join(sorted(c.value for c in changes)))
        return OldConnectionSuggestedAction.NO_OPINION


class CustomPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return CustomPlugin(plugin_service, props)


class GoodPlugin(Plugin):
    """Follows the guide's good practices: shared state from the plugin service, generic property names,
    connections only through the pipeline, nothing long-running in the chain."""

    subscribed_methods = {"*"}

    def __init__(self, plugin_service: PluginService, props: Properties) -> None:
        self._plugin_service = plugin_service
        self._props = props
        self.calls = 0

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[Any], *args: Any, **kwargs: Any
    ) -> Any:
        if not self._plugin_service.hosts:
            await self._plugin_service.force_refresh_host_list()  # re-fetch host info if it is empty
        self.calls += 1
        return await execute_func()

    async def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver_dialect: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial_connection: bool,
        connect_func: ConnectFunc,
    ) -> Any:
        # the generic DATABASE property: the driver dialect turns it into dbname (psycopg) or db (aiomysql)
        if WrapperProperties.DATABASE.get(props) is None:
            props[WrapperProperties.DATABASE.name] = (
                "postgres" if driver_dialect.code == "psycopg" else "test"
            )
        return await connect_func()  # always connect through the pipeline


class GoodPluginFactory(PluginFactory):
    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return GoodPlugin(plugin_service, props)


PluginManager.register_plugin("custom_plugin", CustomPluginFactory)
PluginManager.register_plugin("good_plugin", GoodPluginFactory)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--dsn", help="libpq connection string (psycopg)")
    group.add_argument("--mysql", nargs="+", metavar="KEY=VALUE", help="aiomysql.connect arguments")
    args = parser.parse_args()
    if args.dsn is not None:
        import psycopg

        conn = await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, args.dsn, plugins="custom_plugin,good_plugin"
        )
    else:
        import aiomysql

        kwargs: dict[str, Any] = dict(item.split("=", 1) for item in args.mysql)
        kwargs["port"] = int(kwargs.get("port", 3306))
        conn = await AsyncAwsConnection.connect(
            aiomysql.connect, plugins="custom_plugin,good_plugin", **kwargs
        )
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1")
        print("SELECT 1 ->", await cur.fetchone())
    plugins = AsyncAwsConnection.of(conn).plugin_service.plugins  # the wrapper's own attributes, typed
    good = next(p for p in plugins if isinstance(p, GoodPlugin))
    print("calls seen by good_plugin:", good.calls)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
