"""Built-in plugins, by code. Modules are imported only when a connection uses them."""

from __future__ import annotations

__all__ = ["BUILTIN_PLUGINS", "DEFAULT_PLUGINS", "DEPRECATED_ALIASES", "EXCLUSIVE_PLUGINS"]

#: code -> (module, factory class name, weight). Lower weights run first (outermost).
BUILTIN_PLUGINS: dict[str, tuple[str, str, int]] = {
    "execute_time": ("awsasyncwrap.plugins.execute_time", "ExecuteTimePluginFactory", -1),
    "connect_time": ("awsasyncwrap.plugins.connect_time", "ConnectTimePluginFactory", -1),
    "dev": ("awsasyncwrap.plugins.dev", "DeveloperPluginFactory", 1500),
    "telemetry": ("awsasyncwrap.plugins.telemetry", "TelemetryPluginFactory", 50),
    "iam": ("awsasyncwrap.plugins.iam", "IamAuthPluginFactory", 700),
    "aws_secrets_manager": (
        "awsasyncwrap.plugins.aws_secrets_manager",
        "AwsSecretsManagerPluginFactory",
        800,
    ),
    "federated_auth": ("awsasyncwrap.plugins.federated_auth", "FederatedAuthPluginFactory", 900),
    "okta": ("awsasyncwrap.plugins.okta", "OktaAuthPluginFactory", 1000),
    "host_monitoring": ("awsasyncwrap.plugins.host_monitoring", "HostMonitoringPluginFactory", 500),
    "aurora_connection_tracker": (
        "awsasyncwrap.plugins.aurora_connection_tracker",
        "AuroraConnectionTrackerPluginFactory",
        100,
    ),
    "stale_dns": ("awsasyncwrap.plugins.stale_dns", "StaleDnsPluginFactory", 200),
    "read_write_splitting": (
        "awsasyncwrap.plugins.read_write_splitting",
        "ReadWriteSplittingPluginFactory",
        300,
    ),
    "srw": ("awsasyncwrap.plugins.srw", "SimpleReadWriteSplittingPluginFactory", 310),
    "fastest_response_strategy": (
        "awsasyncwrap.plugins.fastest_response",
        "FastestResponseStrategyPluginFactory",
        320,
    ),
    "bg": ("awsasyncwrap.plugins.blue_green", "BlueGreenPluginFactory", 350),
    "custom_endpoint": ("awsasyncwrap.plugins.custom_endpoint", "CustomEndpointPluginFactory", 90),
    "limitless": ("awsasyncwrap.plugins.limitless", "LimitlessPluginFactory", 370),
    "initial_connection": ("awsasyncwrap.plugins.initial_connection", "InitialConnectionPluginFactory", 390),
    "failover": ("awsasyncwrap.plugins.failover", "FailoverPluginFactory", 400),
    "gdb_failover": ("awsasyncwrap.plugins.gdb_failover", "GdbFailoverPluginFactory", 400),
    "gdb_rw": ("awsasyncwrap.plugins.gdb_rw", "GdbReadWriteSplittingPluginFactory", 300),
    "socket_timeout": ("awsasyncwrap.plugins.socket_timeout", "SocketTimeoutPluginFactory", 550),
}

#: Other names accepted for a built-in code.
DEPRECATED_ALIASES: dict[str, str] = {
    "host_monitoring_v2": "host_monitoring",
    "failover_v2": "failover",
}

#: The plugins used when the ``plugins`` property is not given: chosen for Aurora (see docs/failover.md).
#: On a server without topology the failover plugin and the tracker stay passive.
DEFAULT_PLUGINS: tuple[str, ...] = ("aurora_connection_tracker", "failover", "host_monitoring")

#: Codes that do one job in different ways (at most one of each group per connection) -> why.
EXCLUSIVE_PLUGINS: dict[tuple[str, ...], str] = {
    ("read_write_splitting", "srw", "gdb_rw"): "route statements between writer and readers",
    ("failover", "gdb_failover"): "fail the connection over (gdb_failover is failover with a home region)",
}
