"""The failover plugin's settings and state, shared by its host search (:mod:`._search`) and its pipeline
steps (:mod:`._plugin`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ...errors import FailoverFailedError
from ...plugin import Plugin
from ...properties import Properties
from ...rds_utils import RdsUtils
from ...topology import RdsHostListProvider
from ..settings.failover import FailoverSettings

if TYPE_CHECKING:
    from ...hostinfo import HostInfo
    from ...plugin_service import PluginService

__all__ = ["READER_OR_WRITER", "STRICT_READER", "STRICT_WRITER", "FailoverBase", "Outcome"]

STRICT_WRITER = "strict_writer"
STRICT_READER = "strict_reader"
READER_OR_WRITER = "reader_or_writer"

_rds = RdsUtils()


class Outcome:
    """What one failover produced: the new host, or the reason it failed."""

    __slots__ = ("error", "host")

    def __init__(self, host: HostInfo | None, error: BaseException | None) -> None:
        self.host = host
        self.error = error


class FailoverBase(Plugin):
    """Settings and state of one connection's failover plugin."""

    def __init__(self, service: PluginService, props: Properties) -> None:
        self._service = service
        self._driver = service.driver_dialect  # fixed for the connection's life
        self._props = props
        settings = FailoverSettings.from_props(props)
        self._enabled = settings.enabled
        self._timeout = settings.timeout
        self._connect_timeout = settings.connect_timeout
        self._connect_failover = settings.connect_failover
        self._strategy = settings.reader_strategy
        self._mode_prop = settings.mode
        self._running: asyncio.Task[Outcome] | None = None
        self._stop_reason: str | None = None  # why the running failover was stopped, if it was
        self._querying: Any = None  # the candidate connection the failover is querying, if any
        self._last_call = time.monotonic()  # when the last call through this plugin started
        #: failovers this connection went through (for tests and stats)
        self.failover_count = 0

    # --- configuration --------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """strict_writer, strict_reader or reader_or_writer."""
        if self._mode_prop is not None:
            return self._mode_prop
        initial = self._service.initial_connection_host_info
        return READER_OR_WRITER if _rds.is_reader_cluster_dns(initial.host) else STRICT_WRITER

    def _provider(self) -> RdsHostListProvider | None:
        return self._service.topology_provider

    def _check_stopped(self) -> None:
        if self._stop_reason is not None:
            raise FailoverFailedError(f"stopped: {self._stop_reason}")
