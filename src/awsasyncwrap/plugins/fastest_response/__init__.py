"""The ``fastest_response_strategy`` plugin: the ``fastest_response`` host selection strategy, backed by
one response-time measuring task per cluster. See docs/read_write_splitting.md.
"""

from __future__ import annotations

from ..settings.fastest_response import RESPONSE_MEASUREMENT_INTERVAL_MS
from ._monitor import ResponseTimeMonitor, monitor_key
from ._plugin import STRATEGY, FastestResponseStrategyPlugin, FastestResponseStrategyPluginFactory

__all__ = [
    "RESPONSE_MEASUREMENT_INTERVAL_MS",
    "STRATEGY",
    "FastestResponseStrategyPlugin",
    "FastestResponseStrategyPluginFactory",
    "ResponseTimeMonitor",
    "monitor_key",
]
