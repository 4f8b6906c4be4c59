"""``limitless``: Aurora PostgreSQL Limitless Database.

One monitor per shard group and event loop reads the transaction routers and their load
(``aurora_limitless_router_endpoints()``); each connect goes to a router picked at random by weight
(``10 - floor(load * 10)``), and on failure to the least loaded others. See ``docs/limitless.md``.
"""

from __future__ import annotations

from ._monitor import LimitlessRouterMonitor
from ._plugin import LimitlessPlugin, LimitlessPluginFactory, limitless_monitors
from ._routers import Router, weight_of

__all__ = [
    "LimitlessPlugin",
    "LimitlessPluginFactory",
    "LimitlessRouterMonitor",
    "Router",
    "limitless_monitors",
    "weight_of",
]
