"""The plugin manager: registry of plugin factories and the per-connection call chains.

Decide-then-act: which plugins take part in a method is computed once per
connection and method, then cached; a method no plugin takes part in gets no
chain at all, and the proxy calls the driver directly.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from functools import partial
from itertools import compress
from typing import TYPE_CHECKING, Any

from ._bounded import remember
from ._chains import Call, Chain, CursorChains, StatementChain, build_chain, build_statement_chain
from .errors import ConfigurationError
from .events import ConnectionEvent, HostEvent, OldConnectionSuggestedAction
from .hostinfo import HostInfo, HostRole
from .plugin import Plugin, PluginFactory
from .properties import Properties, WrapperProperties

if TYPE_CHECKING:
    from .drivers import DriverDialect
    from .host_list_provider import HostListProviderService
    from .plugin_service import PluginService

__all__ = ["WEIGHT_RELATIVE_TO_PRIOR_PLUGIN", "PluginManager"]

logger = logging.getLogger(__name__)

#: A plugin registered with this weight keeps its place relative to the plugin listed before it.
WEIGHT_RELATIVE_TO_PRIOR_PLUGIN = -1

#: Pipelines (as opposed to driver methods) a plugin can subscribe to.
PIPELINES = frozenset(
    {
        "connect",
        "force_connect",
        "notify_connection_changed",
        "notify_host_list_changed",
        "init_host_provider",
        "refresh_host_list",
        "accepts_strategy",
    }
)

ConnectStep = Callable[
    [Callable[..., Awaitable[Any]], "DriverDialect", HostInfo, Properties, bool], Awaitable[Any]
]


class PluginManager:
    """Runs the pipelines of one connection through its plugins."""

    _factories: dict[str, tuple[type[PluginFactory], int]] = {}
    #: built-in codes already imported (resolved once per process, not per connect)
    _builtins: dict[str, tuple[type[PluginFactory], int]] = {}
    #: (plugins, auto sort) -> chain order, for lists of built-in codes only
    _orders: dict[tuple[str | None, bool], tuple[str, ...]] = {}

    # --- registry ---------------------------------------------------------------------------

    @classmethod
    def register_plugin(
        cls,
        plugin_code: str,
        plugin_factory: type[PluginFactory],
        weight: int = WEIGHT_RELATIVE_TO_PRIOR_PLUGIN,
    ) -> None:
        """Make ``plugin_code`` usable in the ``plugins`` property."""
        if not isinstance(plugin_code, str) or not plugin_code or any(c in plugin_code for c in " ,\t\n"):
            raise ConfigurationError(
                f"Bad plugin code {plugin_code!r}: use a non-empty name without spaces or commas."
            )
        if not (isinstance(plugin_factory, type) and issubclass(plugin_factory, PluginFactory)):
            raise ConfigurationError(
                f"Bad plugin factory {plugin_factory!r} for {plugin_code!r}: pass a PluginFactory subclass "
                "(the class itself, not an instance)."
            )
        if not isinstance(weight, int) or (weight < 0 and weight != WEIGHT_RELATIVE_TO_PRIOR_PLUGIN):
            raise ConfigurationError(f"Bad weight {weight!r} for plugin {plugin_code!r}: use an int >= 0.")
        cls._factories[plugin_code] = (plugin_factory, weight)

    @classmethod
    def registered_codes(cls) -> set[str]:
        """Every plugin code usable now (built-in and registered)."""
        from .plugins import BUILTIN_PLUGINS

        return set(BUILTIN_PLUGINS) | set(cls._factories)

    @classmethod
    def _factory(cls, code: str) -> tuple[type[PluginFactory], int]:
        found = cls._factories.get(code) or cls._builtins.get(code)
        if found is not None:
            return found
        from .plugins import BUILTIN_PLUGINS, DEPRECATED_ALIASES

        target = BUILTIN_PLUGINS.get(DEPRECATED_ALIASES.get(code, code))
        if target is None:
            raise ConfigurationError.bad_choice("plugin code", code, cls.registered_codes())
        module_name, factory_name, weight = target
        factory = getattr(importlib.import_module(module_name), factory_name)
        cls._builtins[code] = (factory, weight)
        return factory, weight

    @classmethod
    def plugin_codes(cls, props: Properties) -> list[str]:
        """The plugin codes of a connection, in chain order."""
        raw = WrapperProperties.PLUGINS.get(props)
        key = (raw, bool(WrapperProperties.AUTO_SORT_PLUGIN_ORDER.get(props)))
        cached = cls._orders.get(key)
        if cached is not None and cls._factories.keys().isdisjoint(cached):
            return list(cached)
        codes = cls._ordered_codes(props, raw)
        if not any(code in cls._factories for code in codes):  # a registered code may be replaced later
            cls._orders[key] = tuple(codes)
        return codes

    @classmethod
    def _ordered_codes(cls, props: Properties, raw: str | None) -> list[str]:
        from .plugins import DEFAULT_PLUGINS

        if raw is None:
            codes = list(DEFAULT_PLUGINS)
        elif not raw.strip():  # "" or only spaces: no plugin (documented)
            return []
        else:
            codes = [c.strip() for c in raw.split(",")]
            if not all(codes):
                valid = ", ".join(sorted(cls.registered_codes()))
                raise ConfigurationError(
                    f"Bad value {raw!r} for property 'plugins': an empty plugin code; use comma-separated "
                    f"codes without empty items, '' for none. Valid codes: {valid}."
                )
        _check_exclusive(codes, raw)
        seen: set[str] = set()
        ordered: list[tuple[int, int, str]] = []
        last_weight = 0
        for index, code in enumerate(codes):
            if code in seen:
                raise ConfigurationError(f"Plugin code {code!r} is listed twice in plugins={raw!r}.")
            seen.add(code)
            _, weight = cls._factory(code)
            if weight == WEIGHT_RELATIVE_TO_PRIOR_PLUGIN:
                last_weight += 1
                weight = last_weight
            else:
                last_weight = weight
            ordered.append((weight, index, code))
        if WrapperProperties.AUTO_SORT_PLUGIN_ORDER.get(props):
            ordered.sort()
        return [code for _, _, code in ordered]

    # --- per connection --------------------------------------------------------------------

    def __init__(self, service: PluginService, props: Properties, network_bound: frozenset[str]) -> None:
        self._service = service
        self._network_bound = network_bound
        self._chains: dict[tuple[str, bool], Chain | None] = {}
        self._cursor_chains: dict[bool, CursorChains] = {}
        self._closed_chain: Chain | None = None
        self.plugins: list[Plugin] = [
            self._factory(code)[0]().get_instance(service, props) for code in self.plugin_codes(props)
        ]
        self._subscriptions: list[frozenset[str]] = [frozenset(p.subscribed_methods) for p in self.plugins]
        self._shape = _shape(self.plugins, self._subscriptions)

    def _subscribers(self, name: str, network: bool) -> list[Plugin]:
        wildcard_ok = network or name in PIPELINES
        return [
            plugin
            for plugin, subs in zip(self.plugins, self._subscriptions, strict=True)
            if name in subs or ("*" in subs and wildcard_ok)
        ]

    def _pipeline(self, name: str) -> tuple[Plugin, ...]:
        """The plugins taking part in pipeline ``name``, in chain order: those subscribed to it that
        override its hook (the base class's hook only passes on, so calling it would change nothing).

        Worked out once per connection shape (plugin classes and subscriptions; see :func:`_shape`) and
        pipeline, for every connection of that shape.
        """
        if not self.plugins:
            return ()
        mask = self._shape.get(name)
        if mask is None:
            base_hook = getattr(Plugin, name)
            mask = self._shape[name] = tuple(
                (name in subs or "*" in subs) and getattr(type(plugin), name, None) is not base_hook
                for plugin, subs in zip(self.plugins, self._subscriptions, strict=True)
            )
        return tuple(compress(self.plugins, mask))

    def resubscribe(self, plugin: Plugin) -> None:
        """``plugin`` changed its :attr:`~Plugin.subscribed_methods`: rebuild the chains.

        Cursors already open see the new chains at their next call (their :class:`CursorChains` is
        updated in place); a call already in a chain finishes in it. No effect after close.
        """
        if self._closed_chain is not None:
            return
        index = next(i for i, known in enumerate(self.plugins) if known is plugin)
        self._subscriptions[index] = frozenset(plugin.subscribed_methods)
        self._shape = _shape(self.plugins, self._subscriptions)
        self._chains.clear()
        for server_side, chains in self._cursor_chains.items():
            chains.execute, chains.fetchone = self._cursor_chain_pair(server_side)

    def _cursor_chain_pair(self, server_side: bool) -> tuple[StatementChain | None, Chain | None]:
        plugins = self._subscribers("Cursor.execute", "Cursor.execute" in self._network_bound)
        execute = build_statement_chain(plugins, "Cursor.execute") if plugins else None
        return execute, self.chain("Cursor.fetchone", server_side)

    def cursor_chains(self, server_side: bool) -> CursorChains:
        """The chains of a cursor's hot methods, computed once per connection and cursor kind."""
        found = self._cursor_chains.get(server_side)
        if found is None:
            found = self._cursor_chains[server_side] = CursorChains(*self._cursor_chain_pair(server_side))
            if self._closed_chain is not None:
                found.close(self._closed_chain)
        return found

    def chain(self, name: str, network: bool | None = None) -> Chain | None:
        """The cached call chain of ``name``, or None when no plugin takes part."""
        key = (name, name in self._network_bound if network is None else network)
        try:
            return self._chains[key]
        except KeyError:
            pass
        if self._closed_chain is not None:
            return self._closed_chain
        plugins = self._subscribers(name, key[1])
        chain = build_chain(plugins) if plugins else None
        self._chains[key] = chain
        return chain

    def close(self) -> None:
        """The connection was closed: from now on every call through the pipeline raises the driver's
        "connection is closed" error at once, without reaching any plugin (so none can revive it)."""
        if self._closed_chain is not None:
            return
        error = self._service.driver_dialect.closed_error

        async def closed(target: object, name: str, call: Call, *args: Any, **kwargs: Any) -> Any:
            raise error()

        self._closed_chain = closed
        self._chains.clear()
        for chains in self._cursor_chains.values():
            chains.close(closed)

    def execute(self, target: object, name: str, call: Call, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        """Run ``call(*args, **kwargs)`` through the plugins subscribed to ``name`` (the proxies' seam)."""
        chain = self.chain(name)
        if chain is None:
            return call(*args, **kwargs)
        return chain(target, name, call, *args, **kwargs)

    async def _run_connect(
        self,
        pipeline: str,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial: bool,
        skip: Plugin | None,
    ) -> Any:
        service = self._service
        opened: list[Any] = []

        async def terminal() -> Any:
            conn = await driver.connect_bounded(target_driver_func, host_info, props)
            opened.append(conn)
            if is_initial:
                await service.update_dialect(conn)
            return conn

        step: Callable[[], Awaitable[Any]] = terminal
        for plugin in reversed(self._pipeline(pipeline)):
            if plugin is skip:
                continue
            method = plugin.connect if pipeline == "connect" else plugin.force_connect
            # calling the step starts the plugin's own coroutine: no frame in between
            step = partial(method, target_driver_func, driver, host_info, props, is_initial, step)
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            logger.debug("%s to %s started", pipeline, host_info.url)
        try:
            conn = await step()
            if is_initial and not any(c is conn for c in opened):
                # a plugin answered with a connection of its own (failover after the first connect
                # failed): it needs the dialect (and host list provider) as much as one from the driver
                opened.append(conn)
                await service.update_dialect(conn)
        except BaseException as exc:
            if debug:
                logger.debug("%s to %s failed: %s", pipeline, host_info.url, type(exc).__name__)
            # a connection the driver opened that failed (or was cancelled) on its way up the chain
            for orphan in opened:
                if not driver.is_closed(orphan):
                    driver.close_now(orphan)
            raise
        if debug:
            logger.debug("%s to %s complete", pipeline, host_info.url)
        return conn

    def connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial: bool,
        skip: Plugin | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Run the connect pipeline (the pipeline's coroutine itself: no frame of its own)."""
        return self._run_connect("connect", target_driver_func, driver, host_info, props, is_initial, skip)

    def force_connect(
        self,
        target_driver_func: Callable[..., Awaitable[Any]],
        driver: DriverDialect,
        host_info: HostInfo,
        props: Properties,
        is_initial: bool,
        skip: Plugin | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Run the force-connect pipeline (the pipeline's coroutine itself: no frame of its own)."""
        return self._run_connect(
            "force_connect", target_driver_func, driver, host_info, props, is_initial, skip
        )

    async def notify_connection_changed(
        self, changes: set[ConnectionEvent], skip: Plugin | None = None
    ) -> OldConnectionSuggestedAction:
        """Tell every subscribed plugin; PRESERVE wins over DISPOSE, which wins over NO_OPINION."""
        result = OldConnectionSuggestedAction.NO_OPINION
        for plugin in self._pipeline("notify_connection_changed"):
            if plugin is skip:
                continue
            action = await plugin.notify_connection_changed(changes)
            if action is OldConnectionSuggestedAction.PRESERVE or (
                action is OldConnectionSuggestedAction.DISPOSE
                and result is OldConnectionSuggestedAction.NO_OPINION
            ):
                result = action
        return result

    async def notify_host_list_changed(self, changes: dict[str, set[HostEvent]]) -> None:
        """Tell every subscribed plugin that hosts changed."""
        for plugin in self._pipeline("notify_host_list_changed"):
            await plugin.notify_host_list_changed(changes)

    async def init_host_provider(self, props: Properties, service: HostListProviderService) -> None:
        """Run the host-list-provider pipeline."""

        plugins = self._pipeline("init_host_provider")
        if not plugins:
            return

        async def terminal() -> None:
            return None

        step: Callable[[], Awaitable[None]] = terminal
        for plugin in reversed(plugins):
            step = partial(plugin.init_host_provider, props, service, step)
        await step()

    async def refresh_host_list(self, forced: bool, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run the host-list-refresh pipeline around ``refresh``."""
        step = refresh
        for plugin in reversed(self._pipeline("refresh_host_list")):
            step = partial(plugin.refresh_host_list, forced, step)
        await step()

    def accepts_strategy(self, role: HostRole, strategy: str) -> bool:
        """Whether a plugin, or a built-in selector that needs none, can pick hosts by ``strategy``."""
        from .host_selectors import PLUGINLESS_STRATEGIES

        return strategy in PLUGINLESS_STRATEGIES or any(
            p.accepts_strategy(role, strategy) for p in self._subscribers("accepts_strategy", True)
        )

    def get_host_info_by_strategy(
        self, role: HostRole, strategy: str, host_list: list[HostInfo] | None = None
    ) -> HostInfo:
        """A host picked by the first plugin that accepts ``strategy``."""
        for plugin in self._subscribers("accepts_strategy", True):
            if plugin.accepts_strategy(role, strategy):
                return plugin.get_host_info_by_strategy(role, strategy, host_list)
        from .host_selectors import PLUGINLESS_STRATEGIES, selector_for

        if strategy in PLUGINLESS_STRATEGIES:
            hosts = host_list if host_list is not None else self._service.hosts
            return selector_for(strategy).get_host(hosts, role, self._service.props)
        raise ConfigurationError(f"No plugin selects hosts with strategy {strategy!r}.")

    async def release_resources(self) -> None:
        """The connection closed: let every plugin free what it holds (errors are logged, not raised)."""
        for plugin in self.plugins:
            try:
                await plugin.release_resources()
            except Exception:
                logger.warning(
                    "plugin %s failed to release its resources", type(plugin).__name__, exc_info=True
                )


#: (plugin classes, their subscriptions) -> pipeline -> which of the plugins take part in it
_SHAPES: dict[Hashable, dict[str, tuple[bool, ...]]] = {}
_SHAPES_MAX = 64


def _shape(plugins: list[Plugin], subscriptions: list[frozenset[str]]) -> dict[str, tuple[bool, ...]]:
    """What is known of the pipelines of connections with these plugin classes and subscriptions (filled
    in by :meth:`PluginManager._pipeline`); at most :data:`_SHAPES_MAX` shapes are kept."""
    key = (*map(type, plugins), *subscriptions)
    found = _SHAPES.get(key)
    if found is None:
        found = {}
        remember(_SHAPES, key, found, _SHAPES_MAX)
    return found


def _check_exclusive(codes: list[str], raw: str | None) -> None:
    """Raise if two codes of one group of :data:`EXCLUSIVE_PLUGINS` are listed."""
    from .plugins import DEPRECATED_ALIASES, EXCLUSIVE_PLUGINS

    given = {DEPRECATED_ALIASES.get(c, c) for c in codes}
    for group, job in EXCLUSIVE_PLUGINS.items():
        clash = [c for c in group if c in given]
        if len(clash) > 1:
            names = " and ".join(repr(c) for c in clash)
            raise ConfigurationError(
                f"Bad value {raw!r} for property 'plugins': {names} {'both' if len(clash) == 2 else 'all'} "
                f"{job}; use one of them."
            )
