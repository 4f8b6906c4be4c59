"""Built-in plugins, by code. Modules are imported only when a connection uses them."""

from __future__ import annotations

__all__ = ["BUILTIN_PLUGINS", "DEFAULT_PLUGINS", "DEPRECATED_ALIASES"]

#: code -> (module, factory class name, weight). Lower weights run first (outermost).
BUILTIN_PLUGINS: dict[str, tuple[str, str, int]] = {
    "execute_time": ("awsasyncwrap.plugins.execute_time", "ExecuteTimePluginFactory", -1),
    "connect_time": ("awsasyncwrap.plugins.connect_time", "ConnectTimePluginFactory", -1),
    "dev": ("awsasyncwrap.plugins.dev", "DeveloperPluginFactory", 1500),
}

#: Other names accepted for a built-in code.
DEPRECATED_ALIASES: dict[str, str] = {
    "host_monitoring_v2": "host_monitoring",
    "failover_v2": "failover",
}

#: The plugins used when the ``plugins`` property is not given.
DEFAULT_PLUGINS: tuple[str, ...] = ()
