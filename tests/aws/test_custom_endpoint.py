"""``custom_endpoint``: a testbed cluster with a custom endpoint, its members served by moto's RDS API
(extended with the custom endpoint actions, see tests/moto_rds_endpoints.py). Both engines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from awsasyncwrap import AsyncAwsConnection, FailoverError, release_resources
from awsasyncwrap.plugins.custom_endpoint import CustomEndpointInfoTimeoutError, custom_endpoint_monitors
from awsasyncwrap.testbed import CustomEndpoint, Instance, Testbed
from fix_moto import MotoServer
from polling import until

from .conftest import aws_client, unique

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

REFRESH_MS = 200


async def create_endpoint(
    tb: Testbed, moto: MotoServer, members: list[Instance], prefix: str
) -> CustomEndpoint:
    """A custom endpoint of ``members``, in moto's RDS API and in the testbed alike."""
    name = unique(prefix).replace("_", "-")
    async with aws_client(moto, "rds") as rds:
        await rds.create_db_cluster_endpoint(
            DBClusterIdentifier="mydb",
            DBClusterEndpointIdentifier=name,
            EndpointType="ANY",
            StaticMembers=[inst.id for inst in members],
        )
    return await CustomEndpoint.create(tb, name, members)


@pytest_asyncio.fixture(loop_scope="session")
async def endpoint(cluster_testbed: Testbed, moto_server: MotoServer) -> AsyncIterator[CustomEndpoint]:
    """Custom endpoint of the cluster with one member, the first reader (testbed and moto in step)."""
    ce = await create_endpoint(cluster_testbed, moto_server, [cluster_testbed.readers[0]], "ce")
    try:
        yield ce
    finally:
        await ce.aclose()
        await release_resources()


async def _modify(moto: MotoServer, ce: CustomEndpoint, members: list[str], **extra: Any) -> None:
    async with aws_client(moto, "rds") as rds:
        await rds.modify_db_cluster_endpoint(
            DBClusterEndpointIdentifier=ce.host.split(".")[0], StaticMembers=members, **extra
        )


async def _connect(ce: CustomEndpoint, moto: MotoServer, **props: Any) -> Any:
    tb = ce.testbed
    extra: dict[str, Any] = {
        "plugins": "custom_endpoint,failover",
        "failover_mode": "reader_or_writer",
        "autocommit": True,
        "custom_endpoint_rds_endpoint": moto.endpoint,
        "custom_endpoint_info_refresh_rate_ms": REFRESH_MS,
        "monitor_disposal_time_ms": 0,
        **tb.wrapper_props(),
        **props,
    }
    if tb.engine == "postgres":
        import psycopg

        return await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, tb.dsn((ce.host, tb.port)), **extra
        )
    import aiomysql

    return await AsyncAwsConnection.connect(
        aiomysql.connect, **tb.connect_kwargs((ce.host, tb.port)), **extra
    )


async def _instance(tb: Testbed, conn: Any) -> str:
    sql = "SELECT aurora_db_instance_identifier()" if tb.engine == "postgres" else "SELECT @@report_host"
    cur = conn.cursor() if tb.engine == "postgres" else await conn.cursor()
    await cur.execute(sql)
    return str((await cur.fetchone())[0])


def _allowed(conn: Any) -> frozenset[str] | None:
    found = AsyncAwsConnection.of(conn).plugin_service.allowed_hosts
    return None if found is None else found.allowed


async def test_failover_from_a_custom_endpoint_lands_on_a_member(
    endpoint: CustomEndpoint, moto_server: MotoServer
) -> None:
    """Members: the first reader and the writer. When the reader dies, reader_or_writer failover would
    take the other reader first; inside the custom endpoint it goes to the writer."""
    tb = endpoint.testbed
    first, other = tb.readers[0], tb.readers[1]
    conn = await _connect(endpoint, moto_server)
    try:
        assert await _instance(tb, conn) == first.id  # the endpoint's only member so far
        await _modify(moto_server, endpoint, [first.id, tb.writer.id])
        endpoint.modify([first, tb.writer])
        await until(lambda: _allowed(conn) == frozenset({first.id, tb.writer.id}), timeout=5.0)
        await tb.kill(first)
        with pytest.raises(FailoverError):
            await _instance(tb, conn)
        landed = await _instance(tb, conn)
        assert landed == tb.writer.id != other.id
    finally:
        await conn.close()
        await tb.heal()


async def test_membership_changes_are_followed_within_one_refresh(
    endpoint: CustomEndpoint, moto_server: MotoServer
) -> None:
    tb = endpoint.testbed
    conn = await _connect(endpoint, moto_server)
    try:
        assert _allowed(conn) == frozenset({tb.readers[0].id})
        for members in ([tb.readers[1].id], [tb.readers[0].id, tb.readers[1].id]):
            await _modify(moto_server, endpoint, members)
            # one refresh period plus the API round trip and the loop's scheduling on a loaded machine
            await until(lambda m=members: _allowed(conn) == frozenset(m), timeout=REFRESH_MS / 1000 + 2.0)  # type: ignore[misc]
        service = AsyncAwsConnection.of(conn).plugin_service
        assert {h.host_id for h in service.hosts} <= {tb.readers[0].id, tb.readers[1].id}
    finally:
        await conn.close()


async def test_api_errors_keep_the_last_known_members_with_a_warning(
    endpoint: CustomEndpoint, moto_server: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    tb = endpoint.testbed
    conn = await _connect(endpoint, moto_server)
    monitor = custom_endpoint_monitors()[0]
    try:
        with caplog.at_level(logging.WARNING, logger="awsasyncwrap.plugins.custom_endpoint"):
            await _modify(moto_server, endpoint, [tb.readers[0].id], EndpointType="THROTTLE:3")
            await _modify(moto_server, endpoint, [tb.readers[1].id])
            reads = monitor.reads
            await until(lambda: caplog.text.count("Throttling") >= 3, timeout=5.0)
            assert monitor.reads == reads  # every read in between failed
            assert _allowed(conn) == frozenset({tb.readers[0].id})  # the last known members stay in force
            # once the API answers
            await until(lambda: _allowed(conn) == frozenset({tb.readers[1].id}), timeout=5.0)
        assert "the last known members stay in force" in caplog.text
    finally:
        await conn.close()


async def test_unknown_endpoint_is_a_clear_timeout(cluster_testbed: Testbed, moto_server: MotoServer) -> None:
    tb = cluster_testbed
    ce = await CustomEndpoint.create(tb, unique("missing").replace("_", "-"), [tb.readers[0]], number=1)
    try:
        with pytest.raises(
            CustomEndpointInfoTimeoutError, match="wait_for_custom_endpoint_info_timeout_ms=300"
        ):
            await _connect(ce, moto_server, wait_for_custom_endpoint_info_timeout_ms=300)
    finally:
        await ce.aclose()
    await release_resources()
    assert custom_endpoint_monitors() == []


async def test_one_monitor_per_endpoint_and_none_after_release(
    endpoint: CustomEndpoint, moto_server: MotoServer
) -> None:
    conns = [await _connect(endpoint, moto_server) for _ in range(5)]
    try:
        monitors = custom_endpoint_monitors()
        assert len(monitors) == 1 and monitors[0].task_count == 1
    finally:
        for conn in conns:
            await conn.close()
    await release_resources()
    assert custom_endpoint_monitors() == []
