"""The public surface: every name in __all__ importable and presented as awsasyncwrap's."""

from __future__ import annotations

import importlib

import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection, UnsupportedDriverError

pytestmark = pytest.mark.timeout(10)


def test_all_names_are_importable_and_public() -> None:
    for name in awsasyncwrap.__all__:
        obj = getattr(awsasyncwrap, name)
        if isinstance(obj, type):
            assert obj.__module__ == "awsasyncwrap", name


def test_seed_names_are_importable() -> None:
    for name in (
        "Plugin",
        "PluginFactory",
        "PluginManager",
        "PluginService",
        "HostInfo",
        "HostRole",
        "HostAvailability",
        "ConnectionEvent",
        "OldConnectionSuggestedAction",
        "WrapperProperties",
        "AsyncAwsConnection",
        "AsyncAwsCursor",
        "release_resources",
    ):
        assert hasattr(awsasyncwrap, name)


def test_builtin_plugin_modules_import_without_optional_dependencies() -> None:
    from awsasyncwrap.plugins import BUILTIN_PLUGINS

    for code, (module, factory, _) in BUILTIN_PLUGINS.items():
        assert hasattr(importlib.import_module(module), factory), code


async def test_unsupported_connect_function_is_a_clear_error() -> None:
    import psycopg

    async def my_connect(**kwargs: object) -> None:
        return None

    with pytest.raises(UnsupportedDriverError, match=r"psycopg.AsyncConnection.connect.*aiomysql.connect"):
        await AsyncAwsConnection.connect(my_connect, host="x")
    with pytest.raises(UnsupportedDriverError, match=r"Connection\.connect"):
        await AsyncAwsConnection.connect(psycopg.Connection.connect, "host=x")  # type: ignore[arg-type]
