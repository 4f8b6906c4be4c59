"""``custom_endpoint`` with ``read_write_splitting``: the switch stays inside the endpoint's members, and a
custom endpoint without the writer refuses ``set_read_only(False)`` clearly. Both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from awsasyncwrap import release_resources
from awsasyncwrap.plugins.read_write_splitting import ReadWriteSplittingError
from awsasyncwrap.testbed import CustomEndpoint, Testbed
from fix_moto import MotoServer

from .test_custom_endpoint import _connect, _instance, create_endpoint

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

RW_PLUGINS = "custom_endpoint,read_write_splitting,failover"


@pytest_asyncio.fixture(loop_scope="session")
async def readers_only(cluster_testbed: Testbed, moto_server: MotoServer) -> AsyncIterator[CustomEndpoint]:
    """A custom endpoint of the cluster's two readers (no writer)."""
    ce = await create_endpoint(cluster_testbed, moto_server, cluster_testbed.readers, "cerw")
    try:
        yield ce
    finally:
        await ce.aclose()
        await release_resources()


@pytest_asyncio.fixture(loop_scope="session")
async def writer_and_one_reader(
    cluster_testbed: Testbed, moto_server: MotoServer
) -> AsyncIterator[CustomEndpoint]:
    """A custom endpoint of the writer and the first reader."""
    tb = cluster_testbed
    ce = await create_endpoint(tb, moto_server, [tb.writer, tb.readers[0]], "cerw")
    try:
        yield ce
    finally:
        await ce.aclose()
        await release_resources()


async def test_without_the_writer_set_read_only_false_is_refused_clearly(
    readers_only: CustomEndpoint, moto_server: MotoServer
) -> None:
    tb = readers_only.testbed
    members = {inst.id for inst in tb.readers}
    conn = await _connect(readers_only, moto_server, plugins=RW_PLUGINS)
    try:
        assert await _instance(tb, conn) in members
        await conn.set_read_only(True)
        assert await _instance(tb, conn) in members
        with pytest.raises(ReadWriteSplittingError, match="writer is not a member of this connection"):
            await conn.set_read_only(False)
        assert await _instance(tb, conn) in members  # still usable, still on a member
    finally:
        await conn.close()


async def test_switches_stay_inside_the_members(
    writer_and_one_reader: CustomEndpoint, moto_server: MotoServer
) -> None:
    tb = writer_and_one_reader.testbed
    member_reader, outsider = tb.readers[0], tb.readers[1]
    conn = await _connect(writer_and_one_reader, moto_server, plugins=RW_PLUGINS)
    try:
        for _ in range(3):
            await conn.set_read_only(False)
            assert await _instance(tb, conn) == tb.writer.id
            await conn.set_read_only(True)
            landed = await _instance(tb, conn)
            assert landed == member_reader.id != outsider.id
    finally:
        await conn.close()
