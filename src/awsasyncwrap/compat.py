"""Migrating from aws-advanced-python-wrapper: its entry points, with its call shape, on awsasyncwrap.

Switching is a change of import::

    # from aws_advanced_python_wrapper.aio import AsyncAwsWrapperConnection, release_resources_async
    from awsasyncwrap.compat import AsyncAwsWrapperConnection, release_resources_async

    conn = await AsyncAwsWrapperConnection.connect(psycopg.AsyncConnection.connect, conninfo, **props)

Their property names are accepted by every connect of awsasyncwrap (docs/migrating.md lists them). The
connection returned is an :class:`~awsasyncwrap.AsyncAwsConnection`. ``register_shutdown_hook(hook)`` is
theirs too: :func:`~awsasyncwrap.release_resources` (and ``release_resources_async``) awaits each
registered ``hook()`` once, before it stops the monitors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._background import register_shutdown_hook, release_resources
from ._compat_props import register_profile
from .connection import AsyncAwsConnection
from .errors import ConfigurationError

__all__ = [
    "AsyncAwsWrapperConnection",
    "AwsWrapperConnection",
    "register_profile",
    "register_shutdown_hook",
    "release_resources_async",
]

_SYNC_DRIVERS = {
    ("psycopg", "Connection.connect"): "psycopg.AsyncConnection.connect",
    ("psycopg.connection", "Connection.connect"): "psycopg.AsyncConnection.connect",
    ("mysql.connector", "connect"): "aiomysql.connect",
    ("mysql.connector.pooling", "connect"): "aiomysql.connect",
}


class AsyncAwsWrapperConnection:
    """aws-advanced-python-wrapper's ``aio`` entry point; :meth:`connect` opens an ``AsyncAwsConnection``."""

    def __init__(self) -> None:
        raise TypeError("use `await AsyncAwsWrapperConnection.connect(...)`")

    @staticmethod
    async def connect(
        target: Callable[..., Any] | None = None,
        conninfo: str = "",
        *args: Any,
        plugins: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``connect(target_driver_connect, conninfo="", plugins=None, **props)``, as in their wrapper.

        The result is typed as the driver's connection, as :meth:`AsyncAwsConnection.connect` types it."""
        if target is None or not callable(target):
            raise ConfigurationError(
                f"Bad target {target!r}: pass the driver's async connect function "
                "(psycopg.AsyncConnection.connect or aiomysql.connect)."
            )
        key = (getattr(target, "__module__", ""), getattr(target, "__qualname__", ""))
        if key in _SYNC_DRIVERS:
            raise ConfigurationError(
                f"{key[0]}.{key[1]} is a synchronous driver; awsasyncwrap is asyncio-only: "
                f"use {_SYNC_DRIVERS[key]}."
            )
        if args:
            raise ConfigurationError("Pass connection properties as keyword arguments, not positionally.")
        if plugins is not None and not isinstance(plugins, str):
            raise ConfigurationError(
                "plugins takes plugin codes ('failover,host_monitoring'); for a plugin of your own, register "
                "its factory with PluginManager.register_plugin(code, factory) and name the code."
            )
        return await AsyncAwsConnection.connect(target, conninfo, plugins=plugins, **kwargs)


#: their synchronous name; here too ``connect`` is awaited
AwsWrapperConnection = AsyncAwsWrapperConnection


async def release_resources_async() -> None:
    """Stop the wrapper's background monitors of the running event loop (their aio name)."""
    await release_resources()
