"""Pooling wrapped connections.

:class:`AsyncAwsConnectionPool` pools wrapped psycopg or aiomysql connections
and understands failover. :class:`AwsPsycopgConnection` is the
``connection_class`` to use with ``psycopg_pool.AsyncConnectionPool``.
(``aiomysql.Pool`` cannot host the wrapper: it builds its connections itself.)
"""

from __future__ import annotations

from ._errors import PoolClosed, PoolError, PoolTimeout, TooManyRequests
from ._pool import AsyncAwsConnectionPool
from ._psycopg_pool import AwsPsycopgConnection

__all__ = [
    "AsyncAwsConnectionPool",
    "AwsPsycopgConnection",
    "PoolClosed",
    "PoolError",
    "PoolTimeout",
    "TooManyRequests",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
