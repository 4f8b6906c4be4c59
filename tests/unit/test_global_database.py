"""Global Database logic without servers: the host patterns property, per-region host mapping, the global
row shape, and a ``global-`` writer endpoint without patterns."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from awsasyncwrap import HostInfo, HostRole, Properties
from awsasyncwrap.dialects import get_dialect
from awsasyncwrap.dialects._topology import TopologyAwareDialect, TopologyEntry
from awsasyncwrap.errors import ConfigurationError
from awsasyncwrap.properties import WrapperProperties
from awsasyncwrap.rds_utils import parse_global_host_patterns
from awsasyncwrap.topology import HostMapper
from awsasyncwrap.topology._model import UnknownRegionError
from awsasyncwrap.topology._provider import RdsHostListProvider, cluster_id_for

pytestmark = pytest.mark.timeout(10)

GLOBAL = "mydb.global-xyz123.global.rds.amazonaws.com"
EAST = "?.abc.us-east-1.rds.amazonaws.com"
WEST = "?.def.eu-west-1.rds.amazonaws.com:3307"
PATTERNS = f"us-east-1:{EAST},eu-west-1:{WEST}"
PROP = WrapperProperties.GLOBAL_CLUSTER_INSTANCE_HOST_PATTERNS


def test_patterns_property_parses_regions_and_bare_rds_patterns() -> None:
    assert PROP.get({PROP.name: PATTERNS}) == {"us-east-1": EAST, "eu-west-1": WEST}
    assert parse_global_host_patterns(" ?.q.ap-south-1.rds.amazonaws.com , us-west-2:10.0.0.?:5432") == {
        "ap-south-1": "?.q.ap-south-1.rds.amazonaws.com",
        "us-west-2": "10.0.0.?:5432",
    }
    assert PROP.get({}) is None


@pytest.mark.parametrize(
    "bad",
    [
        "us-east-1",
        "us-east-1:abc.example.com",
        "nowhere:?.x",
        "",
        f"{PATTERNS},us-east-1:{EAST}",
        "us-east-1:?.a:0",
    ],
)
def test_bad_patterns_name_the_value_and_the_form(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        PROP.get({PROP.name: bad})
    text = str(info.value)
    assert repr(bad) in text and "global_cluster_instance_host_patterns" in text
    assert "<region>:<pattern>[:port]" in text


def test_mapper_picks_the_pattern_of_each_entrys_region() -> None:
    mapper = HostMapper(None, 5432, parse_global_host_patterns(PATTERNS))
    hosts = mapper.build(
        [
            TopologyEntry("w", True, region="us-east-1"),
            TopologyEntry("r", False, lag_ms=3, region="eu-west-1"),
        ]
    )
    assert [(h.url, h.role, h.region) for h in hosts] == [
        ("w.abc.us-east-1.rds.amazonaws.com:5432", HostRole.WRITER, "us-east-1"),
        ("r.def.eu-west-1.rds.amazonaws.com:3307", HostRole.READER, "eu-west-1"),
    ]
    # an instance met later without a region (identified on a connection) keeps its last region
    assert mapper.host("r", HostRole.UNKNOWN).url == "r.def.eu-west-1.rds.amazonaws.com:3307"


def test_region_without_pattern_falls_back_or_fails_clearly() -> None:
    entries = [TopologyEntry("x", True, region="ap-south-1")]
    fallback = HostMapper("?.other.example:6000", 5432, {"us-east-1": EAST})
    assert fallback.build(entries)[0].url == "x.other.example:6000"
    with pytest.raises(ConfigurationError, match=r"'ap-south-1'.*global_cluster_instance_host_patterns"):
        HostMapper(None, 5432, {"us-east-1": EAST}).build(entries)
    with pytest.raises(UnknownRegionError):  # never seen in a topology: the caller keeps the endpoint
        HostMapper(None, 5432, {"us-east-1": EAST}).host("y", HostRole.READER)


def test_global_rows_carry_the_region() -> None:
    for code in ("global-aurora-pg", "global-aurora-mysql"):
        dialect = get_dialect(code)
        assert isinstance(dialect, TopologyAwareDialect)
        assert (
            "AWS_REGION" in dialect.topology_query
            and "aurora_global_db_instance_status" in dialect.topology_query
        )
        entry = dialect.parse_topology_row(("i-1", 0, 12.5, "eu-west-1"))
        assert entry == TopologyEntry("i-1", False, 0.0, 12.5, region="eu-west-1")
    assert "global-aurora-pg" in get_dialect("aurora-pg").update_candidates
    assert "global-aurora-mysql" in get_dialect("aurora-mysql").update_candidates


def _provider(props: Properties, host: str = GLOBAL) -> RdsHostListProvider:
    service = SimpleNamespace(initial_connection_host_info=HostInfo(host, 5432))
    return RdsHostListProvider(service, props, get_dialect("global-aurora-pg"))  # type: ignore[arg-type]


def test_global_endpoint_without_patterns_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        _provider(Properties())
    assert GLOBAL in str(info.value) and "global_cluster_instance_host_patterns=" in str(info.value)
    # the old bug: no unusable "?.<id>.global.rds.amazonaws.com" pattern is ever derived
    provider = _provider(Properties({PROP.name: PATTERNS}))
    assert provider.mapper.pattern is None and provider.supports_topology
    assert (
        provider.mapper.host("a", HostRole.READER, region="us-east-1").host
        == "a.abc.us-east-1.rds.amazonaws.com"
    )
    # an explicit single pattern is accepted too (one region's instances)
    assert _provider(Properties({"cluster_instance_host_pattern": EAST})).mapper.pattern == EAST


def test_cluster_id_from_the_patterns() -> None:
    props = Properties({PROP.name: PATTERNS})
    assert cluster_id_for(props, HostInfo(GLOBAL, 5432)) == cluster_id_for(props, HostInfo("10.1.2.3", 5432))
