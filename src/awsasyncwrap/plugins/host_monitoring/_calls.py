"""Bookkeeping of in-flight calls: :class:`MonitoredCall` and :class:`InFlightCalls`.

A call is registered when it starts and removed in ``finally`` when it ends,
both O(1): :class:`InFlightCalls` is an insertion-ordered dict keyed by the
call object. Calls are registered with a monotonic start time, so dict order
is start order: the oldest call is the first one, and a scan for calls past
their grace time stops at the first young call. Each connection reuses one
:class:`MonitoredCall` for its calls (a second one only while two calls of
the same connection overlap), so a call allocates nothing and nothing
outlives it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["InFlightCalls", "MonitoredCall"]


class MonitoredCall:
    """A network-bound call running on a monitored host (reused by its connection for the next call)."""

    __slots__ = ("aborted", "conn", "service", "start")

    def __init__(self, conn: Any, service: PluginService) -> None:
        self.conn = conn
        self.service = service
        self.start = time.monotonic()
        #: Set by the monitor when it aborted ``conn`` because the host stopped answering.
        self.aborted = False

    def __repr__(self) -> str:
        state = " aborted" if self.aborted else ""
        return f"<MonitoredCall started={self.start:.3f}{state}>"


class InFlightCalls(dict[MonitoredCall, None]):
    """The calls currently running on one host, oldest first.

    The plugin's hot path uses plain item assignment and deletion (``calls[call] = None``,
    ``del calls[call]``); :meth:`add` and :meth:`remove` are the same for other callers.
    Never await while iterating: calls come and go between two steps of the event loop.
    """

    __slots__ = ()

    def add(self, call: MonitoredCall) -> None:
        """Register a call that just started (O(1))."""
        self[call] = None

    def remove(self, call: MonitoredCall) -> None:
        """Forget a call that ended (O(1); unknown calls are ignored)."""
        self.pop(call, None)

    def snapshot(self) -> list[MonitoredCall]:
        """A copy of every in-flight call, oldest first."""
        return list(self)

    def oldest(self, *, skip_aborted: bool = True) -> MonitoredCall | None:
        """The call that has been running the longest (aborted ones skipped), or None."""
        for call in self:
            if not (skip_aborted and call.aborted):
                return call
        return None

    def overdue(self, now: float, grace: float) -> Iterator[MonitoredCall]:
        """Calls (not aborted) started at least ``grace`` seconds before ``now``, oldest first.

        Stops at the first call younger than that, so it never looks past the overdue ones.
        """
        limit = now - grace
        for call in self:
            if call.start > limit:
                return
            if not call.aborted:
                yield call
