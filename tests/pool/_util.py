"""Small helpers of the pool tests."""

from __future__ import annotations

import functools

import polling

#: Yield to the loop (every 1 ms) until a condition holds; fail after 5 s.
until = functools.partial(polling.until, timeout=5.0, every=0.001)
