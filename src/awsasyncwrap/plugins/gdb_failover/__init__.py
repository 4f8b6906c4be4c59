"""Global Database failover: the ``gdb_failover`` plugin (see docs/global_database.md).

The failover plugin with a home region: ``failover_home_region`` and the modes
``active_home_failover_mode`` / ``inactive_home_failover_mode`` decide where a lost connection goes.
"""

from __future__ import annotations

from ..settings.gdb_failover import (
    ACTIVE_HOME_FAILOVER_MODE,
    FAILOVER_HOME_REGION,
    INACTIVE_HOME_FAILOVER_MODE,
)
from ._modes import MODES, Decision, GdbMode, decide, mode_for
from ._plugin import GdbFailoverPlugin, GdbFailoverPluginFactory

__all__ = [
    "ACTIVE_HOME_FAILOVER_MODE",
    "FAILOVER_HOME_REGION",
    "INACTIVE_HOME_FAILOVER_MODE",
    "MODES",
    "Decision",
    "GdbFailoverPlugin",
    "GdbFailoverPluginFactory",
    "GdbMode",
    "decide",
    "mode_for",
]
