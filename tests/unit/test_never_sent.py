"""Whether a call that failed on a dead aiomysql link surely never reached the server."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from awsasyncwrap.drivers import AiomysqlDriverDialect
from awsasyncwrap.plugins.failover._calls import never_sent as _never_sent

MYSQL = AiomysqlDriverDialect()

pytestmark = pytest.mark.timeout(10)

QUERY_PACKET = b"\x09\x00\x00\x00\x03SELECT 1"


async def test_a_write_the_socket_refused_was_never_sent() -> None:
    """The server had closed before the query went out, and the loop had not yet seen it (the CI race)."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    theirs.close()  # the server goes away; nothing has told the loop yet
    with contextlib.suppress(ConnectionError):
        writer.write(QUERY_PACKET)  # refused by the socket (EPIPE): nothing reached the server
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)) as failed:
        await reader.readexactly(4)
    assert _never_sent(MYSQL, failed.value, None, writer, 0)


async def test_a_write_refused_after_the_loop_saw_the_end_was_never_sent() -> None:
    """The loop read the server's end just before the write (a second CI race): the read fails at once, one
    loop turn before the transport tells the reader that the write was refused."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    theirs.close()
    assert await reader.read(1) == b""  # the loop has read the end
    with contextlib.suppress(ConnectionError):
        writer.write(QUERY_PACKET)  # refused by the socket (EPIPE)
    with pytest.raises(asyncio.IncompleteReadError) as failed:
        await reader.readexactly(4)  # no loop turn: the reader has not heard of the refused write yet
    assert reader.exception() is None
    await MYSQL.failure_settled(writer)
    assert _never_sent(MYSQL, failed.value, None, writer, 0)


async def test_a_write_the_server_received_may_have_been_run() -> None:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    writer.write(QUERY_PACKET)
    await writer.drain()
    assert theirs.recv(64) == QUERY_PACKET  # the server took the query, then died
    theirs.close()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)) as failed:
        await reader.readexactly(4)
    assert not _never_sent(MYSQL, failed.value, None, writer, 0)
    writer.close()
