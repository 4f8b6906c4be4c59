"""``bg``: blue/green deployment switchovers with a bounded pause and no write to the old (blue) side.

One status service per event loop and ``bg_id`` polls the deployment's status metadata on one blue
and one green host (two tasks, however many connections) and routes connects and calls by phase; see
``docs/blue_green.md``.
"""

from __future__ import annotations

from ._plugin import (
    BlueGreenConnectTimeoutError,
    BlueGreenPlugin,
    BlueGreenPluginFactory,
    BlueGreenRejectedError,
    status_services,
)
from ._service import TASK_PREFIX, BlueGreenStatusService
from ._state import Phase, Role, Route, Row, SwitchoverState

__all__ = [
    "TASK_PREFIX",
    "BlueGreenConnectTimeoutError",
    "BlueGreenPlugin",
    "BlueGreenPluginFactory",
    "BlueGreenRejectedError",
    "BlueGreenStatusService",
    "Phase",
    "Role",
    "Route",
    "Row",
    "SwitchoverState",
    "status_services",
]
