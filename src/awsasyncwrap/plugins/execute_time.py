"""``execute_time``: measure how long each network-bound call takes."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..plugin import ExecuteFunc, Plugin, PluginFactory

if TYPE_CHECKING:
    from ..plugin_service import PluginService
    from ..properties import Properties

__all__ = ["ExecuteTimePlugin", "ExecuteTimePluginFactory"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ExecuteTimePlugin(Plugin):
    """Adds the time of every network-bound call to a process-wide total, logged at DEBUG."""

    subscribed_methods = {"*"}
    _total_ns: ClassVar[int] = 0
    _calls: ClassVar[int] = 0

    async def execute(
        self, target: object, method_name: str, execute_func: ExecuteFunc[T], *args: Any, **kwargs: Any
    ) -> T:
        start = time.perf_counter_ns()
        try:
            return await execute_func()
        finally:
            elapsed = time.perf_counter_ns() - start
            cls = ExecuteTimePlugin
            cls._total_ns += elapsed
            cls._calls += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s took %.3f ms", method_name, elapsed / 1e6)

    @classmethod
    def total_seconds(cls) -> float:
        """Time spent in measured calls since the last reset."""
        return cls._total_ns / 1e9

    @classmethod
    def call_count(cls) -> int:
        """Measured calls since the last reset."""
        return cls._calls

    @classmethod
    def reset(cls) -> None:
        """Start measuring from zero."""
        cls._total_ns = 0
        cls._calls = 0


class ExecuteTimePluginFactory(PluginFactory):
    """Creates :class:`ExecuteTimePlugin`."""

    def get_instance(self, plugin_service: PluginService, props: Properties) -> Plugin:
        return ExecuteTimePlugin()
