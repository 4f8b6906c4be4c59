"""Read/write splitting: the ``read_write_splitting`` plugin (Aurora topology), its errors, properties
and internal per-host pools (shared with the ``srw`` plugin). See docs/read_write_splitting.md.
"""

from __future__ import annotations

from ..settings.read_write_splitting import FALLBACK_TO_WRITER, POOL_IDLE_TIMEOUT_MS, POOL_SIZE, POOLS_ENABLED
from ._plugin import ReadWriteSplittingPlugin, ReadWriteSplittingPluginFactory
from ._pool import HostPool
from ._switcher import SwitchingPlugin
from ._tracker import ConnectionTracker, tracker
from .errors import ReadWriteSplittingError

__all__ = [
    "FALLBACK_TO_WRITER",
    "POOLS_ENABLED",
    "POOL_IDLE_TIMEOUT_MS",
    "POOL_SIZE",
    "ConnectionTracker",
    "HostPool",
    "ReadWriteSplittingError",
    "ReadWriteSplittingPlugin",
    "ReadWriteSplittingPluginFactory",
    "SwitchingPlugin",
    "tracker",
]
