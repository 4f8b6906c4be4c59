"""Session state of one wrapped connection: :class:`SessionState`.

What the application set through the proxy (autocommit, read-only, isolation level and, on aiomysql,
the database), the value each had before the application first changed it (its *pristine* value),
and one ordered list of *appliers*: functions run once on every driver connection that becomes
current (the application's own ``SET search_path`` / ``SET ROLE`` / prepared statements, or driver
attributes another part of the wrapper carries over).

On a connection switch (failover, read/write splitting) the switching plugin calls
:meth:`SessionState.apply_to` on the new driver connection: the settings are transferred (toggle
``transfer_session_state_on_switch``), then the appliers not yet run on it. A connection going back
to a pool is first put back to its pristine settings (``reset_session_state_on_close``). The old
connection of a switch that is still in a transaction is rolled back (``rollback_on_switch``).
Deciding what to send is plain code (:meth:`SessionState.transfers`, :meth:`SessionState.resets`);
the async methods only send it.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import AwsWrapperError
from .properties import WrapperProperties as W
from .properties import parsed_once

if TYPE_CHECKING:
    from .drivers import DriverDialect

__all__ = ["SETTINGS", "Applier", "SessionHookError", "SessionState"]

logger = logging.getLogger(__name__)

#: A function run on each new driver connection (sync or async); it receives the driver connection.
Applier = Callable[[Any], "Awaitable[None] | None"]

#: The session settings the wrapper itself tracks, in the order they are transferred.
SETTINGS = ("autocommit", "isolation_level", "read_only", "database")
#: The order a reset puts them back: read-only first (read/write splitting moves back to the writer).
_RESET_ORDER = ("read_only", "isolation_level", "autocommit", "database")


class SessionHookError(AwsWrapperError):
    """An ``on_new_connection`` callback (applier) raised; the cause is its error."""


class _Entry:
    """One applier in the ordered list (a new object when replaced, so it runs again)."""

    __slots__ = ("func", "key")

    def __init__(self, func: Applier, key: object) -> None:
        self.func = func
        self.key = key


@dataclass(slots=True)
class SessionState:
    """The session settings of one wrapped connection and what is re-applied on a new driver connection.

    ``autocommit`` / ``read_only`` / ``isolation_level`` / ``database``: the values the application
    set through the proxy (None: never set). ``pristine``: setting name -> its value before the
    application first changed it.
    """

    autocommit: bool | None = None
    read_only: bool | None = None
    isolation_level: Any = None
    database: str | None = None
    pristine: dict[str, Any] = field(default_factory=dict)
    transfer_on_switch: bool = True
    reset_on_close: bool = True
    rollback_on_switch: bool = True
    _appliers: list[_Entry] = field(default_factory=list, repr=False, compare=False)
    #: driver connection -> ids of the applier entries already run on it (made at the first entry)
    _done: weakref.WeakKeyDictionary[Any, set[int]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> SessionState:
        """A fresh state configured by the connection's properties."""
        transfer, reset, rollback, appliers = _configured(props)
        return cls(
            transfer_on_switch=transfer,
            reset_on_close=reset,
            rollback_on_switch=rollback,
            _appliers=list(appliers),
        )

    def copy(self) -> SessionState:
        """An independent copy of the settings and pristine values (appliers are shared)."""
        return SessionState(
            self.autocommit,
            self.read_only,
            self.isolation_level,
            self.database,
            dict(self.pristine),
            self.transfer_on_switch,
            self.reset_on_close,
            self.rollback_on_switch,
            list(self._appliers),
        )

    # --- what the application set ---------------------------------------------------------------

    def remember(self, name: str, before: Any, value: Any) -> None:
        """The application set ``name`` to ``value``; ``before`` was its value (kept if the first change)."""
        if name not in SETTINGS:
            raise ValueError(f"unknown session setting {name!r}; valid: {', '.join(SETTINGS)}")
        self.pristine.setdefault(name, before)
        setattr(self, name, value)

    @property
    def changed(self) -> bool:
        """Whether any setting differs from its pristine value."""
        return any(getattr(self, name) != value for name, value in self.pristine.items())

    def clear(self) -> None:
        """Forget what the application set (the connection is back to its pristine settings)."""
        self.autocommit = self.read_only = self.isolation_level = self.database = None
        self.pristine.clear()

    def transfers(self, driver: DriverDialect, conn: Any, read_only: bool = True) -> list[tuple[str, Any]]:
        """The settings ``conn`` must be given to match what the application set (no I/O)."""
        if not self.transfer_on_switch:
            return []
        out = []
        for name in SETTINGS:
            value = getattr(self, name)
            if value is None or (name == "read_only" and not read_only):
                continue
            if _current(driver, conn, name) != value:
                out.append((name, value))
        return out

    def resets(self, current: Callable[[str], Any]) -> list[tuple[str, Any]]:
        """The settings to put back to their pristine value, given ``current(name)`` (no I/O)."""
        if not self.reset_on_close:
            return []
        out = []
        for name in _RESET_ORDER:
            if name not in self.pristine:
                continue
            value = self.pristine[name]
            if value is None and name == "database":
                continue  # no database was selected at first: there is no "none" to go back to
            if current(name) != value:
                out.append((name, value))
        return out

    # --- appliers -------------------------------------------------------------------------------

    def add_applier(self, func: Applier, key: object = None) -> None:
        """Run ``func(driver_connection)`` on every later driver connection (after the settings).

        With a ``key``, an applier added before under the same key is replaced in place (and runs
        again on every connection); without one, ``func`` is appended.
        """
        if not callable(func):
            raise TypeError(f"an applier must be callable, got {func!r}")
        entry = _Entry(func, key)
        if key is not None:
            for i, old in enumerate(self._appliers):
                if old.key == key:
                    self._appliers[i] = entry
                    return
        self._appliers.append(entry)

    @property
    def appliers(self) -> tuple[Applier, ...]:
        """The appliers, in the order they run."""
        return tuple(e.func for e in self._appliers)

    def mark_applied(self, conn: Any) -> None:
        """Record that every applier already holds on ``conn`` (the application set it up itself)."""
        if self._done is None:
            self._done = weakref.WeakKeyDictionary()
        self._done.setdefault(conn, set()).update(id(e) for e in self._appliers)

    # --- I/O --------------------------------------------------------------------------------------

    async def apply_to(self, conn: Any, driver: DriverDialect, read_only: bool = True) -> None:
        """Give a driver connection that becomes current the application's settings, then run the
        appliers not yet run on it. ``read_only=False``: leave read-only alone (the switch sets it)."""
        for name, value in self.transfers(driver, conn, read_only):
            await _set(driver, conn, name, value)
        await self.run_appliers(conn, driver)

    async def run_appliers(self, conn: Any, driver: DriverDialect) -> None:
        """Run the appliers not yet run on ``conn``, in order; what they leave open is committed."""
        if not self._appliers:
            return
        if self._done is None:
            self._done = weakref.WeakKeyDictionary()
        done = self._done.get(conn)
        pending = [e for e in self._appliers if done is None or id(e) not in done]
        if not pending:
            return
        idle = not driver.is_in_transaction(conn)
        done = self._done.setdefault(conn, set())
        for entry in pending:
            try:
                result = entry.func(conn)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                name = getattr(entry.func, "__qualname__", None) or repr(entry.func)
                raise SessionHookError(
                    f"on_new_connection callback {name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            done.add(id(entry))
        if idle and driver.is_in_transaction(conn):
            await conn.commit()  # a non-autocommit connection opened a transaction for the applier's SQL

    async def reset_driver_connection(self, conn: Any, driver: DriverDialect, read_only: bool = True) -> None:
        """Put a driver connection going back to a pool to its pristine settings (driver calls only).

        ``read_only=False``: leave read-only alone (read/write splitting sets it on every connection it
        takes from its pools).
        """
        for name, value in self.resets(lambda name: _current(driver, conn, name)):
            if read_only or name != "read_only":
                await _set(driver, conn, name, value)

    async def rollback_if_in_transaction(self, conn: Any, driver: DriverDialect) -> bool:
        """``rollback_on_switch``: end the transaction of a connection being switched away from."""
        if not self.rollback_on_switch or driver.is_closed(conn) or not driver.is_in_transaction(conn):
            return False
        await conn.rollback()
        return True


def _current(driver: DriverDialect, conn: Any, name: str) -> Any:
    if name == "autocommit":
        return driver.get_autocommit(conn)
    if name == "isolation_level":
        return driver.get_isolation_level(conn)
    if name == "read_only":
        return driver.get_read_only(conn)
    return driver.get_database(conn)


async def _set(driver: DriverDialect, conn: Any, name: str, value: Any) -> None:
    if name == "autocommit":
        await driver.set_autocommit(conn, value)
    elif name == "isolation_level":
        await driver.set_isolation_level(conn, value)
    elif name == "read_only":
        await driver.set_read_only(conn, value)
    else:
        await driver.set_database(conn, value)


@parsed_once(
    W.TRANSFER_SESSION_STATE_ON_SWITCH,
    W.RESET_SESSION_STATE_ON_CLOSE,
    W.ROLLBACK_ON_SWITCH,
    W.ON_NEW_CONNECTION,
)
def _configured(props: Mapping[str, Any]) -> tuple[bool, bool, bool, tuple[_Entry, ...]]:
    """What the properties configure: transfer / reset / rollback, and the appliers' entries (shared by
    the connections configured alike: an entry is only ever replaced, never changed)."""
    funcs = W.ON_NEW_CONNECTION.get(props) or ()  # parsed: callables only
    return (
        bool(W.TRANSFER_SESSION_STATE_ON_SWITCH.get(props)),
        bool(W.RESET_SESSION_STATE_ON_CLOSE.get(props)),
        bool(W.ROLLBACK_ON_SWITCH.get(props)),
        tuple(_Entry(func, None) for func in funcs),
    )
