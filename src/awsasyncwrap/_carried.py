"""The connection proxy's side of the carry-over: attributes, handlers and adapters written through it.

See :mod:`._carry_over` for what happens to them on a connection change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plugin_service import PluginService

__all__ = ["CarriedAttribute", "CarriedConnectionState", "RecordingAdapters"]


class CarriedAttribute:
    """A driver connection attribute read through the proxy; a write is carried over to later connections."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, proxy: Any, owner: Any = None) -> Any:
        if proxy is None:
            return self
        return getattr(proxy._service.current_connection, self.name)

    def __set__(self, proxy: Any, value: Any) -> None:
        service = proxy._service
        service.carry_over.set_attribute(service.current_connection, self.name, value)


class CarriedConnectionState:
    """Mixin of the connection proxy: what it sets on the driver connection outlives that connection."""

    _service: PluginService

    # psycopg's writable connection attributes (aiomysql: see AsyncAwsMysqlConnection.cursorclass)
    row_factory = CarriedAttribute("row_factory")
    prepare_threshold = CarriedAttribute("prepare_threshold")
    prepared_max = CarriedAttribute("prepared_max")
    cursor_factory = CarriedAttribute("cursor_factory")
    server_cursor_factory = CarriedAttribute("server_cursor_factory")

    @property
    def adapters(self) -> RecordingAdapters:
        """psycopg's ``conn.adapters``: registrations made here apply to every later driver connection."""
        if not hasattr(self._service.current_connection, "adapters"):
            raise AttributeError("adapters")
        return RecordingAdapters(self)

    def add_notice_handler(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` with each server notice, on this and every later driver connection."""
        service = self._service
        service.carry_over.add_handler(service.current_connection, "notice", callback)

    def remove_notice_handler(self, callback: Callable[[Any], None]) -> None:
        """Stop calling a notice handler."""
        service = self._service
        service.carry_over.remove_handler(service.current_connection, "notice", callback)

    def add_notify_handler(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` with each notification, on this and every later driver connection."""
        service = self._service
        service.carry_over.add_handler(service.current_connection, "notify", callback)

    def remove_notify_handler(self, callback: Callable[[Any], None]) -> None:
        """Stop calling a notify handler."""
        service = self._service
        service.carry_over.remove_handler(service.current_connection, "notify", callback)


class RecordingAdapters:
    """``conn.adapters`` of a psycopg proxy: the current driver connection's, registrations recorded."""

    __slots__ = ("_conn",)

    def __init__(self, proxy: Any) -> None:
        self._conn = proxy

    def _current(self) -> Any:
        return self._conn._service.current_connection

    def register_dumper(self, cls: Any, dumper: Any) -> None:
        """Register ``dumper`` for ``cls`` on this and every later driver connection."""
        service = self._conn._service
        service.carry_over.record_adapters(service.current_connection, "register_dumper", (cls, dumper))

    def register_loader(self, oid: Any, loader: Any) -> None:
        """Register ``loader`` for ``oid`` on this and every later driver connection."""
        service = self._conn._service
        service.carry_over.record_adapters(service.current_connection, "register_loader", (oid, loader))

    @property
    def types(self) -> _RecordingTypes:
        """The types registry; ``types.add(info)`` is recorded."""
        return _RecordingTypes(self._conn)

    @property
    def connection(self) -> Any:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current().adapters, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # psycopg's AdaptersMap(template) marks the template's maps as shared (copy on write)
        if name == "_conn":
            object.__setattr__(self, name, value)
        else:
            setattr(self._current().adapters, name, value)


class _RecordingTypes:
    """``conn.adapters.types`` of a psycopg proxy: ``add`` recorded, the rest read from the driver's."""

    __slots__ = ("_conn",)

    def __init__(self, proxy: Any) -> None:
        self._conn = proxy

    def add(self, info: Any) -> None:
        service = self._conn._service
        service.carry_over.record_adapters(service.current_connection, "types.add", (info,))

    def _types(self) -> Any:
        return self._conn._service.current_connection.adapters.types

    def __getattr__(self, name: str) -> Any:
        return getattr(self._types(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_conn":
            object.__setattr__(self, name, value)
        else:
            setattr(self._types(), name, value)

    def __getitem__(self, key: Any) -> Any:
        return self._types()[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._types()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._types())
