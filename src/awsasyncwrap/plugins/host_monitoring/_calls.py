"""Bookkeeping of in-flight calls: :class:`MonitoredCall` and :class:`InFlightCalls`.

A call is registered when it starts and removed in ``finally`` when it ends,
both O(1) (an insertion-ordered dict keyed by the call object). Calls are
registered with a monotonic start time, so dict order is start order: the
oldest call is the first one, and a scan for calls past their grace time
stops at the first young call. Nothing outlives the call it describes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["InFlightCalls", "MonitoredCall"]


class MonitoredCall:
    """One network-bound call running on a monitored host."""

    __slots__ = ("aborted", "conn", "service", "start")

    def __init__(self, conn: Any, service: PluginService) -> None:
        self.conn = conn
        self.service = service
        self.start = time.monotonic()
        self.aborted = False

    def __repr__(self) -> str:
        state = " aborted" if self.aborted else ""
        return f"<MonitoredCall started={self.start:.3f}{state}>"


class InFlightCalls:
    """The calls currently running on one host, oldest first."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[MonitoredCall, None] = {}

    def add(self, call: MonitoredCall) -> None:
        """Register a call that just started (O(1))."""
        self._calls[call] = None

    def remove(self, call: MonitoredCall) -> None:
        """Forget a call that ended (O(1); unknown calls are ignored)."""
        self._calls.pop(call, None)

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[MonitoredCall]:
        return iter(self._calls)

    def snapshot(self) -> list[MonitoredCall]:
        """A copy of every in-flight call, oldest first."""
        return list(self._calls)

    def oldest(self, *, skip_aborted: bool = True) -> MonitoredCall | None:
        """The call that has been running the longest (aborted ones skipped), or None."""
        for call in self._calls:
            if not (skip_aborted and call.aborted):
                return call
        return None

    def overdue(self, now: float, grace: float) -> Iterator[MonitoredCall]:
        """Calls (not aborted) started at least ``grace`` seconds before ``now``, oldest first.

        Stops at the first call younger than that, so it never looks past the overdue ones.
        """
        limit = now - grace
        for call in self._calls:
            if call.start > limit:
                return
            if not call.aborted:
                yield call
