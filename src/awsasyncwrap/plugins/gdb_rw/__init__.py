"""Global Database read/write splitting: the ``gdb_rw`` plugin (see docs/global_database.md).

Read/write splitting whose readers, and by default writer, must run in a home region
(``gdb_rw_home_region``), with optional global write forwarding.
"""

from __future__ import annotations

from ..settings.gdb_rw import (
    ENABLE_GLOBAL_WRITE_FORWARDING,
    GDB_RW_HOME_REGION,
    RESTRICT_READER_TO_HOME_REGION,
    RESTRICT_WRITER_TO_HOME_REGION,
)
from ._plugin import GdbReadWriteSplittingPlugin, GdbReadWriteSplittingPluginFactory
from ._rules import WriterVerdict, reader_hosts, writer_verdict

__all__ = [
    "ENABLE_GLOBAL_WRITE_FORWARDING",
    "GDB_RW_HOME_REGION",
    "RESTRICT_READER_TO_HOME_REGION",
    "RESTRICT_WRITER_TO_HOME_REGION",
    "GdbReadWriteSplittingPlugin",
    "GdbReadWriteSplittingPluginFactory",
    "WriterVerdict",
    "reader_hosts",
    "writer_verdict",
]
