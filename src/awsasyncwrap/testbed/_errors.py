"""The testbed's single error type."""

from __future__ import annotations

__all__ = ["TestbedError"]


class TestbedError(Exception):
    """A testbed operation failed; the message says what and, where useful, which log to read."""

    __test__ = False  # not a pytest test class despite the name
