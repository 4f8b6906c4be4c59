"""Connection properties: the :class:`Properties` mapping and every :class:`WrapperProperty`.

A connection's properties are one flat mapping holding both the wrapper's own
settings (``plugins``, ``failover_timeout_sec`` ...) and the driver's
connection arguments. Generic names (``host``, ``port``, ``user``,
``password``, ``database``) are converted to each driver's spelling by its
driver dialect (``dbname`` for psycopg, ``db`` for aiomysql).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from operator import methodcaller
from typing import Any, Generic, TypeVar

from ._bounded import remember
from .errors import ConfigurationError

__all__ = ["MONITORING_PREFIX", "Properties", "WrapperProperties", "WrapperProperty", "mask", "parsed_once"]

T = TypeVar("T")
S = TypeVar("S")

#: Properties starting with this prefix configure the wrapper's own monitoring connections.
MONITORING_PREFIX = "monitoring-"
#: Every prefix of monitoring-only properties (``blue-green-monitoring-``: the ``bg`` plugin's monitors).
MONITORING_PREFIXES = (MONITORING_PREFIX, "blue-green-monitoring-")


def strip_monitoring_prefix(key: str) -> str | None:
    """The property name behind a monitoring-only key (None: not one)."""
    for prefix in MONITORING_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return None


_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "private_key")
_MASK = "***"


def is_secret_name(name: str) -> bool:
    """Whether a property of this name holds a secret that must never be shown."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def mask(props: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``props`` safe to log: secret values replaced by ``***``."""
    return {k: (_MASK if is_secret_name(k) and v is not None else v) for k, v in props.items()}


class Properties(dict[str, Any]):
    """A connection's properties. Its ``repr`` never shows a secret value."""

    def __repr__(self) -> str:
        return f"Properties({mask(self)!r})"

    __str__ = __repr__

    def copy(self) -> Properties:  # keep the masking type on copies
        return Properties(self)

    def monitoring_props(self) -> Properties:
        """Properties for a monitoring connection: ``monitoring-X`` entries override ``X``.

        A monitoring connection only reads, so it is in autocommit mode unless ``monitoring-autocommit``
        says otherwise: in a transaction, MySQL / MariaDB would answer every later read of a kept
        connection from the snapshot of its first (a topology that never changes), and PostgreSQL would
        need a rollback after each query.
        """
        if not any(map(_is_monitoring_key, self)):  # the usual case, without a Python-level loop
            props = Properties(self)
            props["autocommit"] = True
            return props
        props = Properties((k, v) for k, v in self.items() if not k.startswith(MONITORING_PREFIX))
        props["autocommit"] = True
        for key, value in self.items():
            if key.startswith(MONITORING_PREFIX):
                props[key[len(MONITORING_PREFIX) :]] = value
        return props


_is_monitoring_key = methodcaller("startswith", MONITORING_PREFIX)


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected a boolean (true/false)")


def _parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError("expected a whole number (not nan, inf or a fraction)") from None


def _parse_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    number = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    if not math.isfinite(number):  # every float property is a duration: nan / inf is none
        raise ValueError("expected a finite number of seconds (not nan or inf)")
    return number


def _parse_str(value: object) -> str:
    return str(value)


def _parse_callables(value: object) -> tuple[Callable[[Any], Any], ...]:
    funcs = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not funcs or not all(callable(f) for f in funcs):
        raise ValueError("expected a function taking the driver connection (or a list of them)")
    return funcs


@dataclass(frozen=True, slots=True)
class WrapperProperty(Generic[T]):
    """One named setting of the wrapper, with its default, parser and valid choices."""

    name: str
    description: str
    default: T | None
    parse: Callable[[Any], T]  # any raw value; may raise TypeError / ValueError (``int`` is a parser)
    choices: tuple[str, ...] | None = None
    min_value: float | None = None

    def get(self, props: Mapping[str, Any]) -> T | None:
        """The parsed value in ``props``, or the default."""
        raw = props.get(self.name)
        if raw is None:
            return self.default
        return self.convert(raw)

    def value(self, props: Mapping[str, Any]) -> T:
        """The parsed value in ``props``, or the declared default (for a property that declares one)."""
        raw = props.get(self.name)
        if raw is not None:
            return self.convert(raw)
        if self.default is None:
            raise LookupError(f"property {self.name!r} declares no default: use get()")
        return self.default

    def seconds(self, props: Mapping[str, Any]) -> float:
        """:meth:`value` of a ``..._ms`` property, in seconds."""
        value = self.value(props)
        if not isinstance(value, (int, float)):
            raise TypeError(f"property {self.name!r} is not a number of milliseconds")
        return value / 1000

    def get_or(self, props: Mapping[str, Any], fallback: T) -> T:
        """The parsed value, the default, or ``fallback`` when both are None."""
        value = self.get(props)
        return fallback if value is None else value

    def convert(self, raw: object) -> T:
        """Parse ``raw``; raise :class:`ConfigurationError` naming the bad value and the valid ones."""
        try:
            value = self.parse(raw)
        except (TypeError, ValueError) as exc:
            if is_secret_name(self.name):  # the parser's message may quote the value
                raise ConfigurationError(f"Bad value {_MASK} for property {self.name!r}.") from None
            raise ConfigurationError(f"Bad value {raw!r} for property {self.name!r}: {exc}.") from None
        if self.choices is not None and value not in self.choices:
            raise ConfigurationError.bad_choice(f"value for property {self.name!r}:", value, self.choices)
        if self.min_value is not None and isinstance(value, (int, float)) and value < self.min_value:
            raise ConfigurationError(
                f"Bad value {raw!r} for property {self.name!r}: must be >= {self.min_value:g}."
            )
        return value


def _bool(name: str, default: bool | None, description: str) -> WrapperProperty[bool]:
    return WrapperProperty(name, description, default, _parse_bool)


def _int(name: str, default: int | None, description: str, minimum: int | None = 0) -> WrapperProperty[int]:
    return WrapperProperty(name, description, default, _parse_int, min_value=minimum)


def _float(name: str, default: float | None, description: str) -> WrapperProperty[float]:
    return WrapperProperty(name, description, default, _parse_float, min_value=0)


def _str(
    name: str, default: str | None, description: str, choices: Iterable[str] | None = None
) -> WrapperProperty[str]:
    return WrapperProperty(name, description, default, _parse_str, tuple(choices) if choices else None)


def _global_patterns(raw: object) -> dict[str, str]:
    from .rds_utils import parse_global_host_patterns

    return parse_global_host_patterns(raw)


class WrapperProperties:
    """Every property the wrapper itself understands (the rest go to the driver)."""

    # --- core -----------------------------------------------------------------------------
    PLUGINS = _str("plugins", None, "Comma-separated plugin codes; empty for none; unset for the defaults.")
    AUTO_SORT_PLUGIN_ORDER = _bool(
        "auto_sort_wrapper_plugin_order", True, "Order plugins by their weight rather than as listed."
    )
    DIALECT = _str("wrapper_dialect", None, "Force a database dialect code instead of detecting it.")
    DRIVER_DIALECT = _str("wrapper_driver_dialect", None, "Force a driver dialect code.")
    HOST = _str("host", None, "Database host (generic name).")
    PORT = _int("port", None, "Database port (generic name).", minimum=1)
    USER = _str("user", None, "Database user (generic name).")
    PASSWORD = _str("password", None, "Database password (generic name).")
    DATABASE = _str("database", None, "Database name (generic name; dbname for psycopg, db for aiomysql).")
    CONNECT_TIMEOUT_SEC = _float(
        "wrapper_connect_timeout_sec", None, "Upper bound for one connection attempt made by the wrapper."
    )
    # --- TCP keepalive (aws-advanced-python-wrapper's names: libpq's keepalives* for psycopg, socket options
    # the aiomysql driver dialect sets after connect) -----------------------------------------------------
    TCP_KEEPALIVE = _bool("tcp_keepalive", None, "Turn TCP keepalive on or off on every connection.")
    TCP_KEEPALIVE_TIME = _int(
        "tcp_keepalive_time", None, "Idle seconds before the first keepalive probe.", None
    )
    TCP_KEEPALIVE_INTERVAL = _int("tcp_keepalive_interval", None, "Seconds between keepalive probes.", None)
    TCP_KEEPALIVE_PROBES = _int(
        "tcp_keepalive_probes", None, "Unanswered probes before the link is dead.", None
    )
    # --- session state ------------------------------------------------------------------
    TRANSFER_SESSION_STATE_ON_SWITCH = _bool(
        "transfer_session_state_on_switch",
        True,
        "Give the new driver connection of a switch (failover, read/write splitting) the autocommit, "
        "read-only, isolation level and database the application set.",
    )
    RESET_SESSION_STATE_ON_CLOSE = _bool(
        "reset_session_state_on_close",
        True,
        "Put those settings back to their values before the application changed them when a connection "
        "goes back to a pool (ours, psycopg_pool, read/write splitting's internal pools).",
    )
    ROLLBACK_ON_SWITCH = _bool(
        "rollback_on_switch", True, "Roll back the transaction of the old connection of a switch."
    )
    ON_NEW_CONNECTION = WrapperProperty(
        "on_new_connection",
        "Function(s) run on every driver connection that becomes current, the first one included "
        "(sync or async; receive the driver connection): re-apply the application's own session state.",
        None,
        _parse_callables,
    )
    # --- topology / host list -------------------------------------------------------------
    CLUSTER_ID = _str("cluster_id", None, "Identifies the cluster; connections with one id share a topology.")
    CLUSTER_INSTANCE_HOST_PATTERN = _str(
        "cluster_instance_host_pattern",
        None,
        "Host of an instance, with '?' replaced by the instance id, e.g. '?.xyz.us-east-1.rds.amazonaws.com'"
        " (optionally ':port').",
    )
    GLOBAL_CLUSTER_INSTANCE_HOST_PATTERNS: WrapperProperty[dict[str, str]] = WrapperProperty(
        "global_cluster_instance_host_patterns",
        "Aurora Global Database: instance host pattern per region, '<region>:<pattern>[:port],...' "
        "(required with a global- writer endpoint).",
        None,
        lambda raw: _global_patterns(raw),
    )
    CLUSTER_TOPOLOGY_REFRESH_RATE_MS = _int(
        "cluster_topology_refresh_rate_ms", 30_000, "Normal topology refresh period of the cluster monitor."
    )
    CLUSTER_TOPOLOGY_HIGH_REFRESH_RATE_MS = _int(
        "cluster_topology_high_refresh_rate_ms", 100, "Topology refresh period while a failover is suspected."
    )
    CLUSTER_TOPOLOGY_QUERY_TIMEOUT_MS = _int(
        "cluster_topology_query_timeout_ms",
        5_000,
        "Upper bound for one connect or query of the topology monitor (its connection is aborted after).",
        minimum=1,
    )
    CLUSTER_TOPOLOGY_HIGH_RATE_HOLD_MS = _int(
        "cluster_topology_high_rate_hold_ms",
        30_000,
        "How long the topology monitor keeps the high refresh rate after it verified a new writer.",
    )
    CLUSTER_WRITER_ENDPOINT = _str(
        "cluster_writer_endpoint",
        None,
        "A host name (e.g. a CNAME or a load balancer) that leads to the writer like the cluster endpoint "
        "does; stale_dns and initial_connection check where it really led.",
    )
    CLUSTER_READER_ENDPOINT = _str(
        "cluster_reader_endpoint",
        None,
        "A host name that leads to a reader like the reader cluster endpoint does.",
    )
    TOPOLOGY_QUERY = _str("topology_query", None, "Override the dialect's topology query.")
    HOST_ID_QUERY = _str("host_id_query", None, "Override the dialect's instance-id query.")
    IS_READER_QUERY = _str("is_reader_query", None, "Override the dialect's is-reader query.")
    MONITOR_DISPOSAL_TIME_MS = _int(
        "monitor_disposal_time_ms", 60_000, "How long an unused shared monitor lives before it stops."
    )
    # --- failover -------------------------------------------------------------------------
    ENABLE_FAILOVER = _bool("enable_failover", True, "Turn the failover plugin on or off.")
    FAILOVER_MODE = _str(
        "failover_mode",
        None,
        "strict_writer, strict_reader or reader_or_writer.",
        ("strict_writer", "strict_reader", "reader_or_writer"),
    )
    FAILOVER_TIMEOUT_SEC = _float("failover_timeout_sec", 300.0, "Give up on failover after this long.")
    FAILOVER_READER_HOST_SELECTOR_STRATEGY = _str(
        "failover_reader_host_selector_strategy", "random", "How reader failover picks a reader."
    )
    # --- enhanced failure monitoring -----------------------------------------------------
    FAILURE_DETECTION_ENABLED = _bool("failure_detection_enabled", True, "Turn host monitoring on or off.")
    FAILURE_DETECTION_TIME_MS = _int(
        "failure_detection_time_ms", 30_000, "Grace time before a call's host starts being probed."
    )
    FAILURE_DETECTION_INTERVAL_MS = _int(
        "failure_detection_interval_ms", 5_000, "Time between two probes of a host.", minimum=1
    )
    FAILURE_DETECTION_COUNT = _int(
        "failure_detection_count", 3, "Failed probes in a row after which a host is declared dead.", minimum=1
    )
    STUCK_CALL_TOPOLOGY_CHECK_MS = _int(
        "stuck_call_topology_check_ms",
        500,
        "A call in flight this long on the cluster's writer makes the topology monitor ask the other "
        "instances (at most this often) whether the writer changed; 0 turns the check off.",
    )
    # --- read/write splitting -------------------------------------------------------------
    READER_HOST_SELECTOR_STRATEGY = _str(
        "reader_host_selector_strategy", "random", "How read/write splitting picks a reader."
    )

    @classmethod
    def all(cls) -> dict[str, WrapperProperty[Any]]:
        """Every wrapper property by name."""
        return {p.name: p for p in vars(cls).values() if isinstance(p, WrapperProperty)}


_EXTRA: dict[str, WrapperProperty[Any]] = {}


class _ParsedOnce(Generic[S]):
    """``parse(props)``, worked out once per distinct values (and their types) of ``props``' entries named."""

    __slots__ = ("__wrapped__", "_cache", "names")

    def __init__(self, parse: Callable[[Mapping[str, Any]], S], names: tuple[str, ...]) -> None:
        self.__wrapped__ = parse
        #: the properties the result depends on
        self.names = names
        self._cache: dict[Hashable, S] = {}

    def __call__(self, props: Mapping[str, Any]) -> S:
        values = tuple(map(props.get, self.names))
        key = (values, tuple(map(type, values)))  # 1 == True, yet one is a bad value for a float property
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list of functions): parsed each time
            return self.__wrapped__(props)
        parsed = self.__wrapped__(props)  # a bad value raises: nothing cached
        remember(self._cache, key, parsed, _PARSED_MAX)
        return parsed


_PARSED_MAX = 32


def parsed_once(
    *props: WrapperProperty[Any],
) -> Callable[[Callable[[Mapping[str, Any]], S]], _ParsedOnce[S]]:
    """Decorate ``parse(props) -> settings``, a pure function of the values of ``props`` (the properties it
    reads, all of them): it then runs once per distinct set of those values, and the same immutable result
    is returned after. A connection's settings parsed at every connect cost more than the connect's own
    round trips on a fast server; a pool opens its connections with the same properties."""

    def decorate(parse: Callable[[Mapping[str, Any]], S]) -> _ParsedOnce[S]:
        return _ParsedOnce(parse, tuple(prop.name for prop in props))

    return decorate


def register_property(prop: WrapperProperty[T]) -> WrapperProperty[T]:
    """Make a plugin's own property known to validation; returns it for assignment."""
    _EXTRA[prop.name] = prop
    _KNOWN.clear()
    return prop


_KNOWN: dict[str, WrapperProperty[Any]] = {}  # known_properties(), built again after a registration


#: how many times :func:`known_properties` was built: what was worked out from it before is stale after
known_generation = 0


def known_properties() -> dict[str, WrapperProperty[Any]]:
    """Every wrapper property by name: the core ones and those registered by plugins (do not modify)."""
    if not _KNOWN:
        global known_generation
        known_generation += 1
        _KNOWN.update({**WrapperProperties.all(), **_EXTRA})
    return _KNOWN
