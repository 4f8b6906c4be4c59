"""Pooling wrapped connections.

:class:`AsyncAwsConnectionPool` pools wrapped psycopg or aiomysql connections
and understands failover. :class:`AwsPsycopgConnection` is the
``connection_class`` to use with ``psycopg_pool.AsyncConnectionPool``.
``aiomysql.Pool`` cannot host the wrapper (it builds its connections itself):
:func:`create_pool` gives aiomysql users its API over the failover-aware pool.
"""

from __future__ import annotations

from ._aiomysql_pool import AiomysqlPool, create_pool
from ._errors import PoolClosed, PoolError, PoolTimeout, TooManyRequests
from ._pool import AsyncAwsConnectionPool
from ._psycopg_pool import AwsPsycopgConnection

__all__ = [
    "AiomysqlPool",
    "AsyncAwsConnectionPool",
    "AwsPsycopgConnection",
    "PoolClosed",
    "PoolError",
    "PoolTimeout",
    "TooManyRequests",
    "create_pool",
]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
