"""Opening a wrapped connection: connect arguments -> validated properties -> a connected plugin service.

What :meth:`AsyncAwsConnection.connect` does before it has a proxy to return: pick the properties apart
(cached per set of arguments), validate them, and run the first connection through the plugins, host
after host as the driver would.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator, Hashable
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._bounded import ArgsKey, remember
from ._compat_props import translate as translate_aws_wrapper_props
from ._pipeline import PluginManager
from .drivers import DriverDialect
from .errors import ConfigurationError
from .hostinfo import HostInfo
from .plugin_service import PluginService
from .plugins import settings as _plugin_settings  # noqa: F401  # declares every plugin property, imports no plugin
from .properties import Properties, WrapperProperties, known_properties

__all__ = ["Connecting", "connect_first", "forced_driver", "prepared_props"]

logger = logging.getLogger("awsasyncwrap.connection")
C = TypeVar("C")


class Connecting(Coroutine[Any, Any, C], Generic[C]):
    """What :meth:`AsyncAwsConnection.connect` returns: a coroutine that is also an ``async with`` block.

    ``conn = await AsyncAwsConnection.connect(...)``, or, as with ``aiomysql.connect``,
    ``async with AsyncAwsConnection.connect(...) as conn:`` (the block ends as the connection's own
    ``async with`` does).
    """

    __slots__ = ("_conn", "_coro")

    def __init__(self, coro: Coroutine[Any, Any, C]) -> None:
        self._coro = coro
        self._conn: Any = None

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, C]:
        return self._coro.__await__()

    async def __aenter__(self) -> C:
        self._conn = await self._coro
        return self._conn  # type: ignore[no-any-return]

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        await conn.__aexit__(exc_type, exc, tb)


async def connect_first(
    target_connect_func: Callable[..., Awaitable[Any]],
    driver: DriverDialect,
    props: Properties,
    attempts: list[tuple[HostInfo, Properties]],
) -> PluginService:
    """The plugin service of the first connection: ``attempts`` (host, its connect properties) in order, as
    the driver would; the service keeps ``props``."""
    for i, (initial_host, attempt_props) in enumerate(attempts):
        service = PluginService(props, driver, target_connect_func, initial_host)
        try:
            await service.manager.init_host_provider(props, service)
            conn = await service.manager.connect(
                target_connect_func, driver, initial_host, attempt_props, True
            )
        except Exception as exc:
            await _release_quietly(service)
            if i == len(attempts) - 1:
                raise
            logger.debug("connecting to %s failed (%s); next host", initial_host.url, type(exc).__name__)
            continue
        except BaseException:
            await _release_quietly(service)
            raise
        try:
            await service.set_current_connection(conn, initial_host)
            await service.refresh_host_list(conn)
        except BaseException:
            await service.dispose(conn)
            await service.release()
            raise
        return service
    raise ConfigurationError("No host to connect to.")  # resolve_hosts never returns an empty list


async def _release_quietly(service: PluginService) -> None:
    """Release what a failed first connect set up, without hiding why it failed."""
    try:
        await service.release()
    except Exception as exc:
        logger.warning("releasing after a failed connect failed: %s", type(exc).__name__)


#: the validated properties of earlier connects, by their arguments (a pool connects with the same ones)
_PREPARED: dict[Hashable, Properties] = {}
_PREPARED_MAX = 32
#: arguments whose meaning is read from elsewhere at connect time (a file): never served from the cache
_NOT_CACHED = ("read_default_file", "profile_name")


def prepared_props(
    driver: DriverDialect, conninfo: str, kwargs: dict[str, Any], plugins: str | None
) -> Properties:
    """The connection's properties: collected, translated, normalized and validated (or as an earlier
    connect with the same arguments got them: the same input gives the same result)."""
    # with the values' types (1 == True, yet another argument); an ArgsKey: its repr shows no argument
    key: tuple[Any, ...] | None = ArgsKey(
        (driver.code, conninfo, plugins, *kwargs.items(), *map(type, kwargs.values()))
    )
    try:
        hash(key)
    except TypeError:  # an unhashable argument value: no cache
        key = None
    if key is not None:
        cached = _PREPARED.get(key)
        if cached is not None:
            return Properties(cached)
    raw = driver.collect_props(conninfo, kwargs)
    if plugins is not None:
        raw[WrapperProperties.PLUGINS.name] = plugins
    params = driver.driver_params() | set(driver.generic_names)
    raw = translate_aws_wrapper_props(raw, driver, params.__contains__)
    props = driver.normalize(Properties(raw))
    _validate(props, driver)
    if key is not None and not any(name in kwargs for name in _NOT_CACHED):
        remember(_PREPARED, key, Properties(props), _PREPARED_MAX)
    return props


def forced_driver(kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get(WrapperProperties.DRIVER_DIALECT.name)
    return None if value is None else str(value)


def _validate(props: Properties, driver: DriverDialect) -> None:
    """Reject unknown property names and bad values of wrapper properties."""
    bad = driver.unknown_names(props)
    if bad:
        raise ConfigurationError.bad_choice("connection property", bad[0], driver.valid_names())
    known = known_properties()
    for name, value in props.items():  # the given names only, not every known property
        prop = known.get(name)
        if prop is None or value is None or name in driver.generic_names:
            continue  # host, port, user ...: the driver's rules decide (DriverDialect.resolve_hosts)
        prop.convert(value)
    PluginManager.plugin_codes(props)  # unknown plugin codes fail here, before any I/O
