"""Failover: the ``failover`` plugin and its errors.

Errors raised (each also an instance of the driver's OperationalError):
:class:`~awsasyncwrap.FailoverSuccessError` (retry the statement),
:class:`~awsasyncwrap.TransactionResolutionUnknownError` (redo the transaction),
:class:`~awsasyncwrap.FailoverFailedError` (no host found in ``failover_timeout_sec``).
"""

from __future__ import annotations

from ..settings.failover import FAILOVER_CONNECT_TIMEOUT_SEC
from ._base import READER_OR_WRITER, STRICT_READER, STRICT_WRITER
from ._plugin import FailoverPlugin, FailoverPluginFactory
from .errors import driver_error_class

__all__ = [
    "FAILOVER_CONNECT_TIMEOUT_SEC",
    "READER_OR_WRITER",
    "STRICT_READER",
    "STRICT_WRITER",
    "FailoverPlugin",
    "FailoverPluginFactory",
    "driver_error_class",
]
