"""RdsUtils: endpoint kinds, regions, cluster ids and instance host patterns."""

from __future__ import annotations

import pytest

from awsasyncwrap.rds_utils import RdsUrlType, RdsUtils, instance_host, parse_host_pattern

U = RdsUtils()

CLUSTER = "mydb.cluster-xyz123.us-east-2.rds.amazonaws.com"
READER = "mydb.cluster-ro-xyz123.us-east-2.rds.amazonaws.com"
CUSTOM = "alias.cluster-custom-xyz123.us-east-2.rds.amazonaws.com"
PROXY = "px.proxy-xyz123.us-east-2.rds.amazonaws.com"
INSTANCE = "inst-1.xyz123.us-east-2.rds.amazonaws.com"
GLOBAL = "gdb.global-xyz123.global.rds.amazonaws.com"
CN = "mydb.cluster-xyz123.rds.cn-northwest-1.amazonaws.com.cn"
CN_OLD = "mydb.cluster-ro-xyz123.cn-north-1.rds.amazonaws.com.cn"
CN_INSTANCE = "inst-1.xyz123.rds.cn-northwest-1.amazonaws.com.cn"
GOV = "mydb.cluster-xyz123.rds.us-gov-west-1.amazonaws.com"
ISO = "inst-2.xyz123.rds.us-iso-east-1.c2s.ic.gov"


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        (CLUSTER, RdsUrlType.RDS_WRITER_CLUSTER),
        (READER, RdsUrlType.RDS_READER_CLUSTER),
        (CUSTOM, RdsUrlType.RDS_CUSTOM_CLUSTER),
        (PROXY, RdsUrlType.RDS_PROXY),
        (INSTANCE, RdsUrlType.RDS_INSTANCE),
        (GLOBAL, RdsUrlType.RDS_GLOBAL_WRITER_CLUSTER),
        (CN, RdsUrlType.RDS_WRITER_CLUSTER),
        (CN_OLD, RdsUrlType.RDS_READER_CLUSTER),
        (CN_INSTANCE, RdsUrlType.RDS_INSTANCE),
        (GOV, RdsUrlType.RDS_WRITER_CLUSTER),
        (ISO, RdsUrlType.RDS_INSTANCE),
        (CLUSTER.upper() + ".", RdsUrlType.RDS_WRITER_CLUSTER),
        ("10.0.0.1", RdsUrlType.IP_ADDRESS),
        ("::1", RdsUrlType.IP_ADDRESS),
        ("[2001:db8::1]", RdsUrlType.IP_ADDRESS),
        ("fe80:0:0:0:0:0:0:1", RdsUrlType.IP_ADDRESS),
        ("localhost", RdsUrlType.OTHER),
        ("db.example.com", RdsUrlType.OTHER),
        ("mydb.cluster-xyz.us-east-2.rds.amazonaws.com.evil.com", RdsUrlType.OTHER),
        ("", RdsUrlType.OTHER),
        (None, RdsUrlType.OTHER),
    ],
)
def test_identify(host: str | None, kind: RdsUrlType) -> None:
    assert U.identify_rds_type(host) is kind


def test_predicates() -> None:
    assert U.is_rds_cluster_dns(CLUSTER) and U.is_rds_cluster_dns(READER)
    assert not U.is_rds_cluster_dns(CUSTOM) and not U.is_rds_cluster_dns(INSTANCE)
    assert U.is_writer_cluster_dns(CLUSTER) and not U.is_writer_cluster_dns(READER)
    assert U.is_reader_cluster_dns(READER) and not U.is_reader_cluster_dns(CLUSTER)
    assert U.is_rds_custom_cluster_dns(CUSTOM)
    assert U.is_rds_proxy_dns(PROXY)
    assert U.is_rds_instance(INSTANCE) and not U.is_rds_instance(CLUSTER)
    assert U.is_global_db_writer_cluster_dns(GLOBAL)
    assert all(U.is_rds_dns(h) for h in (CLUSTER, READER, CUSTOM, PROXY, INSTANCE, CN, GOV, ISO))
    assert not U.is_rds_dns("127.0.0.1") and not U.is_rds_dns("localhost")
    assert U.is_ip("127.0.3.1") and not U.is_ip(INSTANCE)


@pytest.mark.parametrize(
    ("host", "region"),
    [
        (CLUSTER, "us-east-2"),
        (INSTANCE, "us-east-2"),
        (PROXY, "us-east-2"),
        (CN, "cn-northwest-1"),
        (CN_OLD, "cn-north-1"),
        (GOV, "us-gov-west-1"),
        (ISO, "us-iso-east-1"),
        ("my-lb-123.elb.eu-west-1.amazonaws.com", "eu-west-1"),
        ("localhost", None),
        ("10.1.2.3", None),
        (None, None),
    ],
)
def test_region(host: str | None, region: str | None) -> None:
    assert U.get_rds_region(host) == region


def test_cluster_id_and_instance_id() -> None:
    assert U.get_rds_cluster_id(CLUSTER) == "mydb"
    assert U.get_rds_cluster_id(READER) == "mydb"
    assert U.get_rds_cluster_id(CUSTOM) == "alias"
    assert U.get_rds_cluster_id(INSTANCE) is None
    assert U.get_rds_cluster_id(PROXY) is None
    assert U.get_rds_cluster_id("localhost") is None
    assert U.get_instance_id(INSTANCE) == "inst-1"
    assert U.get_instance_id(CLUSTER) is None


def test_cluster_host_url() -> None:
    assert U.get_rds_cluster_host_url(READER) == CLUSTER
    assert U.get_rds_cluster_host_url(CLUSTER) == CLUSTER
    assert U.get_rds_cluster_host_url(CN_OLD) == "mydb.cluster-xyz123.cn-north-1.rds.amazonaws.com.cn"
    assert U.get_rds_cluster_host_url(INSTANCE) is None


@pytest.mark.parametrize(
    ("host", "pattern"),
    [
        (CLUSTER, "?.xyz123.us-east-2.rds.amazonaws.com"),
        (READER, "?.xyz123.us-east-2.rds.amazonaws.com"),
        (INSTANCE, "?.xyz123.us-east-2.rds.amazonaws.com"),
        (CN, "?.xyz123.rds.cn-northwest-1.amazonaws.com.cn"),
        (CN_OLD, "?.xyz123.cn-north-1.rds.amazonaws.com.cn"),
        (GOV, "?.xyz123.rds.us-gov-west-1.amazonaws.com"),
        (ISO, "?.xyz123.rds.us-iso-east-1.c2s.ic.gov"),
        ("localhost", None),
        ("127.0.0.1", None),
    ],
)
def test_instance_host_pattern(host: str, pattern: str | None) -> None:
    assert U.get_rds_instance_host_pattern(host) == pattern
    if pattern is not None:
        assert U.get_instance_id(instance_host(pattern, "inst-9")[0]) == "inst-9"


def test_host_pattern_substitution() -> None:
    assert instance_host("127.0.5.?", "2") == ("127.0.5.2", None)
    assert instance_host("127.0.5.?:40001", "3") == ("127.0.5.3", 40001)
    assert instance_host("?.xyz.us-east-1.rds.amazonaws.com:5432", "db-1") == (
        "db-1.xyz.us-east-1.rds.amazonaws.com",
        5432,
    )
    assert instance_host("[fd00::?]:6000", "7") == ("fd00::7", 6000)
    assert parse_host_pattern("?.example") == ("?.example", None)


@pytest.mark.parametrize("bad", ["no-placeholder.example", "127.0.0.1:5432", "?.x:notaport", "?.x:0", "[?:1"])
def test_bad_host_pattern(bad: str) -> None:
    assert not RdsUtils.is_dns_pattern_valid(bad)
    with pytest.raises(ValueError):
        parse_host_pattern(bad)


def test_valid_host_pattern() -> None:
    assert RdsUtils.is_dns_pattern_valid("?.cluster.local:5432")


def test_global_endpoint_yields_no_region_and_no_instance_pattern() -> None:
    # "global" is not a region, and the instances of a global database are named under their own
    # regional domains: a pattern derived from the global endpoint would name unreachable hosts
    assert U.get_rds_cluster_id(GLOBAL) == "gdb"
    assert U.get_rds_region(GLOBAL) is None
    assert U.get_rds_instance_host_pattern(GLOBAL) is None
    assert U.get_rds_cluster_host_url(GLOBAL) is None
