"""The property names of aws-advanced-python-wrapper 3.1.0 (sync and ``aio``), accepted at connect.

:func:`translate` runs once per connect, on the raw properties, before validation (never on the hot path).
Every name of theirs that is not already one of ours is in exactly one table:

- :data:`ALIASES`: renamed here; the value is converted to our unit;
- the properties registered below (and ``enable_connect_failover``, ``open_connection_retry_interval_ms`` in
  their plugins): implemented here with their meaning;
- :data:`NO_EFFECT`: tunes a mechanism this wrapper does not have; accepted, logged once, ignored;
- :data:`FIXED`: a switch whose only value here is the one given (another value is an error);
- :data:`UNSUPPORTED`: a feature this wrapper lacks; a :class:`ConfigurationError` says so and what to use.

docs/migrating.md is the user-facing version of these tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .properties import (
    MONITORING_PREFIX,
    WrapperProperties,
    WrapperProperty,
    _parse_bool,
    _parse_float,
    _parse_str,
    known_properties,
    register_property,
)

if TYPE_CHECKING:
    from .drivers import DriverDialect

__all__ = ["ALIASES", "FIXED", "NO_EFFECT", "UNSUPPORTED", "register_profile", "translate"]

logger = logging.getLogger(__name__)

_THEIRS = "aws-advanced-python-wrapper"


@dataclass(frozen=True)
class Alias:
    """Their name for one of our properties; ``scale`` converts their unit to ours (sec -> ms: 1000)."""

    target: str
    scale: float | None = None


def _scaled(value: object, scale: float) -> int | float:
    number = _parse_float(value) * scale
    return int(number) if number.is_integer() else number


ALIASES: dict[str, Alias] = {
    "topology_refresh_ms": Alias("cluster_topology_refresh_rate_ms"),
    "auxiliary_query_timeout_sec": Alias("cluster_topology_query_timeout_ms", 1000),
    "failover_cluster_topology_refresh_rate_sec": Alias("cluster_topology_high_refresh_rate_ms", 1000),
    "failover_reader_connect_timeout_sec": Alias("failover_connect_timeout_sec"),
    "iam_token_expiration": Alias("iam_expiration"),
    "initial_connection_host_selector_strategy": Alias("reader_initial_connection_host_selector_strategy"),
    "limitless_max_retries_ms": Alias("limitless_max_retries"),  # their name for a count
}

#: name -> why it changes nothing here
NO_EFFECT: dict[str, str] = {
    "failover_writer_reconnect_interval_sec": "writer failover waits for the cluster's topology monitor, "
    "which checks every cluster_topology_high_refresh_rate_ms",
    "default_host_availability_strategy": "a host is available again as soon as the topology or a connect "
    "shows it up",
    "host_availability_strategy_max_retries": "no host availability backoff here",
    "host_availability_strategy_initial_backoff_time": "no host availability backoff here",
    "telemetry_traces_backend": "the telemetry plugin reports to the application's OpenTelemetry providers; "
    "their exporters decide where data goes",
    "telemetry_metrics_backend": "the telemetry plugin reports to the application's OpenTelemetry providers; "
    "their exporters decide where data goes",
    "telemetry_submit_toplevel": "spans nest under the application's current span when there is one",
    "telemetry_submit_top_level": "spans nest under the application's current span when there is one",
    "telemetry_failover_additional_top_trace": "failover is reported on the span of the call that hit it",
    "endpoint_substitution_role": "the initial_connection plugin replaces the endpoint only when the "
    "connection it gave has the wrong role (see verify_opened_connection_type)",
}

#: name -> (the only value accepted, what this wrapper always does)
FIXED: dict[str, tuple[Any, str]] = {
    "monitoring_connection_priority": ("strict-writer", "the topology monitor prefers the writer"),
}

_GDB = "Aurora Global Databases are not supported; connect to the regional cluster endpoint"
#: name -> what to do instead
UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        (
            "gdb_monitoring_connection_priority",
            "inactive_cluster_writer_endpoint_substitution_role",
            "verify_inactive_cluster_writer_endpoint_connection_type",
        ),
        _GDB,
    ),
}
_UNSUPPORTED_PREFIXES = {"gdb_": _GDB}

#: their plugin codes: ours, or None with what to do instead
PLUGIN_CODES: dict[str, str] = {
    "efm": "host_monitoring",
    "efm2": "host_monitoring",
    "customEndpoint": "custom_endpoint",
}
UNSUPPORTED_PLUGINS: dict[str, str] = {}
_DIALECTS = {"rds-multi-az-pg-cluster": "multi-az-pg", "rds-multi-az-mysql-cluster": "multi-az-mysql"}

# --- their names implemented with their meaning -------------------------------------------------

PROFILE_NAME = register_property(
    WrapperProperty(
        "profile_name",
        "A set of properties registered with awsasyncwrap.compat.register_profile(); explicit ones win.",
        None,
        _parse_str,
    )
)
IDP_NAME = register_property(
    WrapperProperty(
        "idp_name", "Identity provider of federated_auth: adfs, or okta (the okta plugin).", None, _parse_str,
        ("adfs", "okta"),
    )
)  # fmt: skip
ENABLE_TELEMETRY = register_property(
    WrapperProperty("enable_telemetry", "Add the telemetry plugin.", None, _parse_bool)
)

_profiles: dict[str, dict[str, Any]] = {}
_logged: set[str] = set()


def register_profile(name: str, props: Mapping[str, Any]) -> None:
    """Register (or replace) a named set of properties, used by connections with ``profile_name=name``."""
    if not name or not isinstance(name, str):
        raise ConfigurationError(f"Bad profile name {name!r}: a non-empty string.")
    _profiles[name] = dict(props)


def _unsupported(name: str, advice: str) -> ConfigurationError:
    return ConfigurationError(f"Property {name!r} of {_THEIRS} is not supported by awsasyncwrap: {advice}.")


def _is_known(name: str, is_driver_param: Callable[[str], bool]) -> bool:
    return name in known_properties() or is_driver_param(name)


def _apply_profile(raw: dict[str, Any]) -> dict[str, Any]:
    name = raw.get(PROFILE_NAME.name)
    if name is None:
        return raw
    if name not in _profiles:
        valid = ", ".join(sorted(_profiles)) or "none registered"
        raise ConfigurationError(
            f"Unknown profile_name {name!r}; registered: {valid}. awsasyncwrap has no preset profiles "
            f"(the {_THEIRS} presets are not provided): register yours with "
            "awsasyncwrap.compat.register_profile(name, props)."
        )
    return {**_profiles[name], **raw}


def _translate_name(
    key: str, value: Any, out: dict[str, Any], is_driver_param: Callable[[str], bool]
) -> None:
    """Put ``key=value`` into ``out`` under our name; raise for what is not supported."""
    prefix = MONITORING_PREFIX if key.startswith(MONITORING_PREFIX) else ""
    name = key[len(prefix) :]
    if _is_known(name, is_driver_param):
        out[key] = value
    elif name in ALIASES:
        alias = ALIASES[name]
        target = prefix + alias.target
        if target in out and out[target] != value:
            raise ConfigurationError(f"Both {key!r} ({_THEIRS}'s name) and {target!r} are given; keep one.")
        out[target] = value if alias.scale is None or value is None else _scaled(value, alias.scale)
    elif name in NO_EFFECT:
        if name not in _logged:
            _logged.add(name)
            logger.info("property %r of %s has no effect here: %s", name, _THEIRS, NO_EFFECT[name])
    elif name in FIXED:
        only, why = FIXED[name]
        given = _parse_bool(value) if isinstance(only, bool) else value
        if given != only:
            raise _unsupported(f"{name}={value!r}", f"{why} (only {only!r} is accepted)")
    elif name in UNSUPPORTED:
        raise _unsupported(name, UNSUPPORTED[name])
    else:
        for start, advice in _UNSUPPORTED_PREFIXES.items():
            if name.startswith(start):
                raise _unsupported(name, advice)
        out[key] = value  # unknown: validation names it and the valid ones


def _translate_plugins(out: dict[str, Any]) -> None:
    raw = out.get(WrapperProperties.PLUGINS.name)
    codes: list[str] | None = None
    if raw is not None:
        codes = [c.strip() for c in str(raw).split(",") if c.strip()]
        for code in codes:
            if code in UNSUPPORTED_PLUGINS:
                advice = UNSUPPORTED_PLUGINS[code]
                raise ConfigurationError(f"Plugin {code!r} of {_THEIRS} is not available here: {advice}.")
        codes = [PLUGIN_CODES.get(c, c) for c in codes]
    extra = []
    if out.get("socket_timeout") is not None:  # plugins/settings/socket_timeout.py
        extra.append("socket_timeout")
    if ENABLE_TELEMETRY.get(out):
        extra.append("telemetry")
    if out.get(IDP_NAME.name) is not None and IDP_NAME.convert(out[IDP_NAME.name]) == "okta" and codes:
        codes = ["okta" if c == "federated_auth" else c for c in codes]
    if extra:
        from .plugins import DEFAULT_PLUGINS

        base = list(DEFAULT_PLUGINS) if codes is None else codes
        codes = base + [c for c in extra if c not in base]
    given = [c.strip() for c in str(raw).split(",")] if raw is not None and str(raw).strip() else []
    if codes is not None and "" not in given and (extra or codes != given):
        out[WrapperProperties.PLUGINS.name] = ",".join(codes)
    # else the list stays as given, so that its own validation sees it (an empty item is an error)


def translate(
    raw: Mapping[str, Any], driver: DriverDialect, is_driver_param: Callable[[str], bool]
) -> dict[str, Any]:
    """``raw`` with every aws-advanced-python-wrapper name turned into ours (see the module docstring)."""
    props = _apply_profile(dict(raw))
    out: dict[str, Any] = {}
    for key, value in props.items():
        _translate_name(key, value, out, is_driver_param)
    _translate_plugins(out)
    mode = out.get(WrapperProperties.FAILOVER_MODE.name)
    choices = WrapperProperties.FAILOVER_MODE.choices or ()
    if isinstance(mode, str) and mode.replace("-", "_") in choices:  # failover_v2's spelling: strict-writer
        out[WrapperProperties.FAILOVER_MODE.name] = mode.replace("-", "_")
    dialect = out.get(WrapperProperties.DIALECT.name)
    if dialect in _DIALECTS:
        out[WrapperProperties.DIALECT.name] = _DIALECTS[dialect]
    for ours, native in driver.keepalive_params.items():  # a driver with keepalive settings of its own
        value = out.pop(ours, None)
        if value is not None and native not in out:
            parsed = known_properties()[ours].convert(value)
            out[native] = int(parsed) if isinstance(parsed, bool) else parsed
    return out
