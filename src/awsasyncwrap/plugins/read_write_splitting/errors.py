"""The error of read/write splitting."""

from __future__ import annotations

from ...errors import AwsWrapperError

__all__ = ["ReadWriteSplittingError"]


class ReadWriteSplittingError(AwsWrapperError):
    """``set_read_only`` could not move the connection (open transaction, no writer, no reader).

    The connection itself is unchanged and still usable where it is.
    """
