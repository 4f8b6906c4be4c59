"""Properties of the ``gdb_rw`` plugin (names, meaning and defaults of the AWS wrappers)."""

from __future__ import annotations

from ...properties import WrapperProperty, _parse_bool, register_property

__all__ = [
    "ENABLE_GLOBAL_WRITE_FORWARDING",
    "GDB_RW_HOME_REGION",
    "RESTRICT_READER_TO_HOME_REGION",
    "RESTRICT_WRITER_TO_HOME_REGION",
]

GDB_RW_HOME_REGION: WrapperProperty[str] = register_property(
    WrapperProperty(
        "gdb_rw_home_region",
        "The home region of gdb_rw (e.g. us-east-1); default: the region of the connection URL, required "
        "when the URL names none (IP address, global writer endpoint, custom domain).",
        None,
        str,
    )
)
RESTRICT_WRITER_TO_HOME_REGION: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "gdb_rw_restrict_writer_to_home_region",
        "set_read_only(False) never switches to a writer outside the home region: it raises "
        "ReadWriteSplittingError instead (or stays on the reader with gdb_enable_global_write_forwarding).",
        True,
        _parse_bool,
    )
)
RESTRICT_READER_TO_HOME_REGION: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "gdb_rw_restrict_reader_to_home_region",
        "set_read_only(True) picks readers of the home region only (none there: as when no reader can be "
        "reached, see rw_fallback_to_writer).",
        True,
        _parse_bool,
    )
)
ENABLE_GLOBAL_WRITE_FORWARDING: WrapperProperty[bool] = register_property(
    WrapperProperty(
        "gdb_enable_global_write_forwarding",
        "When the writer runs outside the home region (and gdb_rw_restrict_writer_to_home_region is on), "
        "set_read_only(False) keeps the home reader, whose cluster forwards writes to the primary "
        "(Aurora Global Database write forwarding must be enabled on it).",
        False,
        _parse_bool,
    )
)
