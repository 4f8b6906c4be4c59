"""FaultProxy against a local echo server (no database)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anyio
import pytest
import pytest_asyncio

from awsasyncwrap.testbed import FaultProxy, TestbedError
from awsasyncwrap.testbed._ports import _reserve, claim_cluster_addresses, free_port, release_ports
from awsasyncwrap.testbed._proxy import parse_mode
from awsasyncwrap.testbed._wait import until


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def listener() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@pytest_asyncio.fixture(loop_scope="session")
async def echo_address() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[:2]
    server.close()
    await server.wait_closed()


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(echo_address: tuple[str, int]) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(listener(), lambda: echo_address, name="test")
    await proxy.start()
    yield proxy
    await proxy.aclose()


async def no_connections(proxy: FaultProxy) -> bool:
    return proxy.connections == 0


async def has_connections(proxy: FaultProxy) -> bool:
    return proxy.connections > 0


async def open_link(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    with anyio.fail_after(5):
        return await asyncio.open_connection(*proxy.address)


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    with anyio.fail_after(5):
        return await reader.readexactly(len(data))


def test_parse_mode() -> None:
    assert parse_mode("delay:250") == ("delay", 0.25)
    assert parse_mode("blackhole") == ("blackhole", 0.0)
    for bad in ("drop", "delay:", "delay:-1", "delay:x"):
        with pytest.raises(TestbedError, match="valid: pass, blackhole, refuse, reset, delay:MS"):
            parse_mode(bad)


async def test_pass_and_large_transfer(proxy: FaultProxy) -> None:
    reader, writer = await open_link(proxy)
    assert await round_trip(reader, writer, b"hello") == b"hello"
    big = bytes(range(256)) * 20000  # 5 MB: exercises flow control
    assert await round_trip(reader, writer, big) == big
    assert proxy.connections == 1
    writer.close()
    with anyio.fail_after(5):
        await until(lambda: no_connections(proxy))


async def test_delay_keeps_order(proxy: FaultProxy) -> None:
    reader, writer = await open_link(proxy)
    proxy.set_mode("delay:100")
    started = time.perf_counter()
    for chunk in (b"a", b"b", b"c"):
        writer.write(chunk)
        await writer.drain()
    with anyio.fail_after(5):
        assert await reader.readexactly(3) == b"abc"
    assert time.perf_counter() - started >= 0.2  # delayed both ways
    proxy.set_mode("pass")
    assert await round_trip(reader, writer, b"d") == b"d"
    writer.close()


async def test_blackhole_holds_then_releases(proxy: FaultProxy) -> None:
    reader, writer = await open_link(proxy)
    proxy.set_mode("blackhole")
    writer.write(b"held")
    await writer.drain()
    with anyio.move_on_after(0.5) as scope:
        await reader.readexactly(4)
    assert scope.cancelled_caught
    new_reader, new_writer = await open_link(proxy)  # accepted, not connected upstream yet
    proxy.set_mode("pass")
    with anyio.fail_after(5):
        assert await reader.readexactly(4) == b"held"
    assert await round_trip(new_reader, new_writer, b"late") == b"late"
    writer.close()
    new_writer.close()


async def test_refuse_resets_new_connections_only(proxy: FaultProxy) -> None:
    reader, writer = await open_link(proxy)
    proxy.set_mode("refuse")
    refused_reader, _ = await open_link(proxy)
    with pytest.raises(ConnectionResetError), anyio.fail_after(5):
        await refused_reader.read(1)
    assert await round_trip(reader, writer, b"alive") == b"alive"
    writer.close()


async def test_reset_kills_live_connections_then_passes(proxy: FaultProxy) -> None:
    reader, writer = await open_link(proxy)
    await round_trip(reader, writer, b"x")
    proxy.set_mode("reset")
    assert proxy.mode == "pass"
    with pytest.raises(ConnectionResetError), anyio.fail_after(5):
        await reader.read(1)
    reader, writer = await open_link(proxy)
    assert await round_trip(reader, writer, b"again") == b"again"
    writer.close()


async def test_dead_upstream_resets_client() -> None:
    dead = listener()
    dead_address = dead.getsockname()[:2]
    dead.close()
    proxy = FaultProxy(listener(), lambda: dead_address, name="dead")
    await proxy.start()
    try:
        reader, _ = await open_link(proxy)
        with pytest.raises(ConnectionResetError), anyio.fail_after(5):
            await reader.read(1)
    finally:
        await proxy.aclose()


async def test_aclose_stops_everything(echo_address: tuple[str, int]) -> None:
    proxy = FaultProxy(listener(), lambda: echo_address, name="closing")
    await proxy.start()
    proxy.set_mode("blackhole")
    reader, _ = await open_link(proxy)  # a connect task waiting for the blackhole to end
    with anyio.fail_after(5):
        await until(lambda: has_connections(proxy))
    await proxy.aclose()
    assert proxy.connections == 0
    with pytest.raises(ConnectionResetError), anyio.fail_after(5):
        await reader.read(1)
    with pytest.raises(OSError):
        await asyncio.open_connection(*proxy.address)


def test_claim_cluster_addresses_binds_every_host() -> None:
    first = claim_cluster_addresses([1, 2])
    try:
        assert sorted(first.sockets) == [1, 2, 200, 201]
        for octet, sock in first.sockets.items():
            assert sock.getsockname() == (first.host(octet), first.port)
        second = claim_cluster_addresses([1, 2], port=first.port)  # same port: must move to another K
        try:
            assert second.k != first.k
        finally:
            second.close()
    finally:
        first.close()


class Upper(Echo):
    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


async def test_fence_holds_one_upstream_until_unfenced(
    proxy: FaultProxy, echo_address: tuple[str, int]
) -> None:
    reader, writer = await open_link(proxy)
    await round_trip(reader, writer, b"a")
    proxy.fence(echo_address)
    writer.write(b"held")
    await writer.drain()
    with anyio.move_on_after(0.5) as scope:
        await reader.readexactly(4)
    assert scope.cancelled_caught
    new_reader, new_writer = await open_link(proxy)  # accepted, waits for the fence to lift
    proxy.unfence(echo_address, drop=False)
    with anyio.fail_after(5):
        assert await reader.readexactly(4) == b"held"
    assert await round_trip(new_reader, new_writer, b"late") == b"late"
    assert proxy.mode == "pass"
    writer.close()
    new_writer.close()


async def test_unfence_with_drop_resets_and_reroutes(echo_address: tuple[str, int]) -> None:
    upper = await asyncio.get_running_loop().create_server(Upper, "127.0.0.1", 0)
    targets = [echo_address]
    proxy = FaultProxy(listener(), lambda: targets[0], name="fenced")
    await proxy.start()
    try:
        reader, writer = await open_link(proxy)
        await round_trip(reader, writer, b"x")
        proxy.fence(echo_address)
        writer.write(b"never")  # echoed by the server, held by the fence, then dropped
        await writer.drain()
        new_reader, new_writer = await open_link(proxy)
        targets[0] = upper.sockets[0].getsockname()[:2]  # "DNS" now points elsewhere
        proxy.unfence(echo_address, drop=True)
        with pytest.raises(ConnectionResetError), anyio.fail_after(5):
            await reader.read(5)
        new_writer.write(b"moved")
        await new_writer.drain()
        with anyio.fail_after(5):
            assert await new_reader.readexactly(5) == b"MOVED"
        new_writer.close()
    finally:
        await proxy.aclose()
        upper.close()
        await upper.wait_closed()


async def test_fence_leaves_other_upstreams_alone(echo_address: tuple[str, int]) -> None:
    proxy = FaultProxy(listener(), lambda: echo_address, name="other")
    await proxy.start()
    try:
        reader, writer = await open_link(proxy)
        proxy.fence(("127.0.0.1", 1))
        assert await round_trip(reader, writer, b"free") == b"free"
        proxy.unfence(("127.0.0.1", 1), drop=True)
        assert await round_trip(reader, writer, b"still") == b"still"
        writer.close()
    finally:
        await proxy.aclose()


async def test_dropped_link_stays_silent_while_blackholed(
    proxy: FaultProxy, echo_address: tuple[str, int]
) -> None:
    reader, writer = await open_link(proxy)
    await round_trip(reader, writer, b"x")
    proxy.set_mode("blackhole")
    proxy.fence(echo_address)
    proxy.unfence(echo_address, drop=True)
    with anyio.move_on_after(0.5) as scope:
        await reader.read(1)
    assert scope.cancelled_caught  # a blackholed dead host: nothing at all
    proxy.set_mode("pass")
    with pytest.raises(ConnectionResetError), anyio.fail_after(5):
        await reader.read(1)


async def test_abandoned_connects_during_a_blackhole_leave_no_task_or_socket(proxy: FaultProxy) -> None:
    proxy.set_mode("blackhole")
    try:
        for abort in (False, True, False, True, False):
            reader, writer = await open_link(proxy)
            writer.write(b"startup packet")
            await writer.drain()
            with anyio.fail_after(5):
                await until(lambda: has_connections(proxy))
            if abort:
                writer.transport.abort()  # RST, as a client timing out hard
            else:
                writer.close()  # FIN, as a client giving up politely
            with anyio.fail_after(5):
                await until(lambda: no_connections(proxy))

            async def no_tasks() -> bool:
                return proxy.tasks == 0

            with anyio.fail_after(5):
                await until(no_tasks)
    finally:
        proxy.set_mode("pass")
    reader, writer = await open_link(proxy)  # still serving
    try:
        assert await round_trip(reader, writer, b"after") == b"after"
    finally:
        writer.close()


async def test_a_blackholed_new_connection_still_flows_once_passed(proxy: FaultProxy) -> None:
    proxy.set_mode("blackhole")
    reader, writer = await open_link(proxy)
    try:
        writer.write(b"held")
        await writer.drain()
        with pytest.raises(TimeoutError), anyio.fail_after(0.3):
            await reader.readexactly(4)
        proxy.set_mode("pass")
        with anyio.fail_after(5):
            assert await reader.readexactly(4) == b"held"
    finally:
        proxy.set_mode("pass")
        writer.close()


def test_a_node_port_is_reserved_until_released() -> None:
    """Two testbeds (in any process) never pick the same node port between its check and the server's bind."""
    port = free_port()
    try:
        assert not _reserve(port)  # taken: the next free_port() passes it by
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from awsasyncwrap.testbed._ports import _reserve; print(_reserve({port}))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert other.stdout.strip() == "False"  # another process cannot have it either
    finally:
        release_ports([port])
    assert _reserve(port)
    release_ports([port])
