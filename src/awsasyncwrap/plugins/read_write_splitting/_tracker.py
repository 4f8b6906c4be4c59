"""Live connections per host held by read/write splitting, per event loop (for ``least_connections``)."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...drivers import DriverDialect
    from ...hostinfo import HostInfo

__all__ = ["ConnectionTracker", "tracker"]


class ConnectionTracker:
    """Which driver connection is on which host; counts only connections still open.

    Connections are held weakly: one that is dropped without being untracked stops counting when it
    is closed or garbage collected.
    """

    def __init__(self) -> None:
        self._by_host: dict[str, weakref.WeakKeyDictionary[Any, DriverDialect]] = {}
        self._host_of: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def track(self, host: HostInfo, conn: Any, driver: DriverDialect) -> None:
        """``conn`` (open, in use) is on ``host``."""
        self.untrack(conn)
        self._by_host.setdefault(host.url, weakref.WeakKeyDictionary())[conn] = driver
        self._host_of[conn] = host.url

    def untrack(self, conn: Any) -> None:
        """``conn`` is closed or idle in a pool."""
        url = self._host_of.pop(conn, None)
        if url is not None:
            conns = self._by_host.get(url)
            if conns is not None:
                conns.pop(conn, None)

    def count(self, host: HostInfo) -> int:
        """Open tracked connections on ``host`` (by url or alias)."""
        total = 0
        for url in host.all_aliases:
            conns = self._by_host.get(url)
            if conns:
                total += sum(1 for conn, driver in list(conns.items()) if not driver.is_closed(conn))
        return total


_trackers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionTracker] = (
    weakref.WeakKeyDictionary()
)


def tracker() -> ConnectionTracker:
    """The tracker of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _trackers.get(loop)
    if found is None:
        found = _trackers[loop] = ConnectionTracker()
    return found
