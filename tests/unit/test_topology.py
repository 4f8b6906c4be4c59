"""Topology logic without servers: cluster ids, mapping instance ids to hosts, picking the writer row
(the monitor's watchdog, ``AbortAfter``, is in test_deadline.py). The monitor against real servers and
real faults is in tests/failover."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from awsasyncwrap import HostInfo, HostRole, Properties, release_resources
from awsasyncwrap._background import registry
from awsasyncwrap.dialects import get_dialect
from awsasyncwrap.dialects._topology import TopologyEntry, _one_writer
from awsasyncwrap.errors import ConfigurationError
from awsasyncwrap.topology import ClusterTopologyMonitor, HostMapper, Topology, cluster_id_for, monitor_key

from .fakedriver import FakeDriverDialect, fake_connect

pytestmark = pytest.mark.timeout(10)

DOMAIN = "xyz123.us-east-2.rds.amazonaws.com"
CLUSTER = f"mydb.cluster-{DOMAIN}"
READER = f"mydb.cluster-ro-{DOMAIN}"


def test_cluster_and_reader_endpoints_share_a_cluster_id() -> None:
    props = Properties()
    assert cluster_id_for(props, HostInfo(CLUSTER, 5432)) == cluster_id_for(props, HostInfo(READER, 5432))
    assert cluster_id_for(props, HostInfo(CLUSTER, 5432)) != cluster_id_for(props, HostInfo(CLUSTER, 5433))
    assert cluster_id_for(Properties({"cluster_id": "c1"}), HostInfo(CLUSTER, 5432)) == "c1"


def test_cluster_id_without_cluster_endpoint() -> None:
    pattern = Properties({"cluster_instance_host_pattern": "10.0.0.?"})
    assert cluster_id_for(pattern, HostInfo("10.0.0.1", 5432)) == cluster_id_for(
        pattern, HostInfo("10.0.0.2", 5432)
    )
    instance = HostInfo(f"inst-1.{DOMAIN}", 5432)
    assert cluster_id_for(Properties(), instance) == instance.url  # nothing tells its cluster (yet)


@pytest_asyncio.fixture
async def clean_registry() -> AsyncIterator[None]:
    yield
    await release_resources()


async def test_instance_endpoint_joins_the_monitor_that_lists_it(clean_registry: None) -> None:
    """An instance endpoint opened after a cluster-endpoint connection shares its monitor."""
    mapper = HostMapper(f"?.{DOMAIN}", 5432)
    cluster_id = cluster_id_for(Properties(), HostInfo(CLUSTER, 5432))
    monitor = registry().acquire(
        monitor_key(cluster_id),
        lambda: ClusterTopologyMonitor(
            cluster_id,
            FakeDriverDialect(),
            get_dialect("aurora-pg"),  # type: ignore[arg-type]
            fake_connect,
            Properties(),
            HostInfo(CLUSTER, 5432),
            mapper,
        ),
        ClusterTopologyMonitor,
    )
    monitor.seed(Topology(mapper.build([TopologyEntry("inst-1", True), TopologyEntry("inst-2", False)])))
    assert cluster_id_for(Properties(), HostInfo(f"inst-2.{DOMAIN}", 5432)) == cluster_id
    assert cluster_id_for(Properties(), HostInfo(f"inst-9.{DOMAIN}", 5432)) != cluster_id
    # a monitor gone lists nothing
    await release_resources()
    assert monitor.closed
    assert cluster_id_for(Properties(), HostInfo(f"inst-2.{DOMAIN}", 5432)) != cluster_id


def test_a_topology_finds_a_host_by_url_alias_or_instance_id() -> None:
    first = HostInfo("a.example", 5432, HostRole.WRITER, host_id="a", aliases={"alias.example:5432"})
    second = HostInfo("b.example", 5432, HostRole.READER, host_id="b", aliases={"alias.example:5432"})
    topo = Topology((first, second))
    assert topo.find(url="b.example:5432") is second
    assert topo.find(url="alias.example:5432") is first  # a name two hosts share: the first one's
    assert topo.find(url="c.example:5432") is None
    assert topo.find(host_id="b") is second
    assert topo.find(host_id="x", url="b.example:5432") is second
    assert topo.find() is None


def test_host_mapper_pattern_and_port() -> None:
    assert HostMapper("?.example.com", 5432).host("i1", HostRole.READER).url == "i1.example.com:5432"
    assert HostMapper("10.0.0.?:6432", 5432).host("7", HostRole.WRITER).url == "10.0.0.7:6432"
    assert HostMapper(None, 3306).host("i1", HostRole.READER, "i1.internal", 3307).url == "i1.internal:3307"
    with pytest.raises(ConfigurationError):
        HostMapper(None, 5432).host("i1", HostRole.READER)  # ids only and no pattern: unreachable
    with pytest.raises(ConfigurationError):
        HostMapper("no-placeholder.example.com", 5432)


def test_verified_writer_wins_over_the_table_and_old_readers_are_kept() -> None:
    mapper = HostMapper("?.example.com", 5432)
    old = mapper.build([TopologyEntry("a", True), TopologyEntry("b", False), TopologyEntry("c", False)])
    # the promoted instance b still lists a as the writer and does not list c yet
    hosts = mapper.build([TopologyEntry("a", True), TopologyEntry("b", False)], verified_writer="b", keep=old)
    assert [(h.host_id, h.role) for h in hosts] == [
        ("b", HostRole.WRITER),
        ("a", HostRole.READER),
        ("c", HostRole.READER),
    ]
    assert Topology(hosts).writer is hosts[0] and len(Topology(hosts).readers) == 2


def test_the_freshest_writer_row_wins() -> None:
    t0 = datetime.datetime(2026, 1, 1, 12, 0, 0)
    stale = TopologyEntry("a", True, last_update=t0)
    fresh = TopologyEntry("b", True, last_update=t0 + datetime.timedelta(seconds=5))
    reader = TopologyEntry("c", False, last_update=t0)
    assert _one_writer([stale, fresh, reader]) == [fresh, reader]
