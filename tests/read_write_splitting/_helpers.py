"""Engine-neutral helpers of the read/write splitting tests (PostgreSQL and MariaDB testbeds)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, TypeVar

import polling
import wrapped
from awsasyncwrap import AsyncAwsConnection, Plugin
from wrapped import Target

__all__ = ["Db", "until", "wrapper_tasks"]

P = TypeVar("P", bound=Plugin)

#: Poll every 20 ms.
until = functools.partial(polling.until, every=0.02)


class Db(wrapped.Db):
    """A testbed plus how to talk to it with either driver."""

    async def connect(
        self,
        target: Target = None,
        plugins: str = "read_write_splitting,failover",
        topology: bool = True,
        **props: Any,
    ) -> AsyncAwsConnection:
        """A wrapped connection to ``target`` (default: the cluster endpoint); ``topology``: as an Aurora
        cluster (``Testbed.wrapper_props()``)."""
        return await super().connect(target, aurora=topology, **{**props, "plugins": plugins})

    async def backend_id(self, conn: Any) -> int:
        """The server's id of the session (pid / connection id)."""
        sql = "SELECT pg_backend_pid()" if self.pg else "SELECT CONNECTION_ID()"
        return int((await self.run(conn, sql))[0][0])

    @property
    def writer_id(self) -> str:
        return self.tb.writer.id

    @property
    def reader_ids(self) -> set[str]:
        return {inst.id for inst in self.tb.readers}


def plugin_of(conn: AsyncAwsConnection, cls: type[P]) -> P:
    """The connection's plugin of class ``cls``."""
    return next(p for p in conn.plugin_service.plugins if isinstance(p, cls))


def wrapper_tasks() -> list[asyncio.Task[Any]]:
    """Every live task the wrapper owns."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("awsasyncwrap:") and not t.done()]
