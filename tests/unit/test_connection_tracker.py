"""The connection tracker keeps each event loop's connections apart (pure logic, no server)."""

from __future__ import annotations

import asyncio
import weakref

import pytest

from awsasyncwrap.plugins import aurora_connection_tracker as tracker

pytestmark = pytest.mark.timeout(10)


class _Conn:
    """Stands for a driver connection (only its identity matters here)."""


def test_each_event_loop_sees_only_its_own_connections() -> None:
    conn = _Conn()

    async def track() -> list[object]:
        tracker._tracked_here().setdefault("db-1:5432", weakref.WeakSet()).add(conn)
        return tracker.tracked_connections("db-1:5432")

    async def look() -> list[object]:
        return tracker.tracked_connections("db-1:5432")

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(track()) == [conn]
        assert second.run_until_complete(look()) == []  # another loop's monitors never abort it
        assert first.run_until_complete(look()) == [conn]
    finally:
        first.close()
        second.close()
