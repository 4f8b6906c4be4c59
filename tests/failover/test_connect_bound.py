"""Every connect is bounded: a blackholed endpoint gives the driver's OperationalError naming the host
after the wrapper's default (10 s), ``connect_timeout`` or ``wrapper_connect_timeout_sec``."""

from __future__ import annotations

import time
from typing import Any

import aiomysql
import anyio
import psycopg
import pytest

from awsasyncwrap import AwsWrapperError, ConfigurationError, release_resources
from awsasyncwrap.testbed import Testbed
from polling import until
from wrapped import connect

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

DEFAULT_CONNECT_TIMEOUT_SEC = 10.0  # documented in docs/core.md


async def blackholed_connect(tb: Testbed, **props: Any) -> tuple[BaseException, float]:
    driver_error = psycopg.OperationalError if tb.engine == "postgres" else aiomysql.OperationalError
    tb.net("cluster", "blackhole")
    started = time.monotonic()
    try:
        with pytest.raises(driver_error) as info, anyio.fail_after(DEFAULT_CONNECT_TIMEOUT_SEC + 10):
            await connect(tb, monitor_disposal_time_ms=0, **props)
    finally:
        tb.net("cluster", "pass")
        await release_resources()
    assert not isinstance(info.value, AwsWrapperError), repr(info.value)
    return info.value, time.monotonic() - started


async def test_blackholed_endpoint_without_timeouts_fails_after_the_default(cluster_testbed: Testbed) -> None:
    error, elapsed = await blackholed_connect(cluster_testbed)
    assert DEFAULT_CONNECT_TIMEOUT_SEC - 0.5 < elapsed < DEFAULT_CONNECT_TIMEOUT_SEC + 3, elapsed
    assert cluster_testbed.cluster_endpoint[0] in str(error)


async def test_wrapper_connect_timeout_overrides_the_default(cluster_testbed: Testbed) -> None:
    error, elapsed = await blackholed_connect(cluster_testbed, wrapper_connect_timeout_sec=1)
    assert 0.9 < elapsed < 3, elapsed
    assert cluster_testbed.cluster_endpoint[0] in str(error)


async def test_driver_connect_timeout_overrides_the_default(cluster_testbed: Testbed) -> None:
    _error, elapsed = await blackholed_connect(cluster_testbed, connect_timeout=2)
    assert 1.9 < elapsed < 4.5, elapsed


async def test_the_proxy_keeps_nothing_of_abandoned_attempts(cluster_testbed: Testbed) -> None:
    tb = cluster_testbed
    proxy = tb._proxies["cluster"]
    tasks, connections = proxy.tasks, proxy.connections
    for _ in range(3):
        await blackholed_connect(tb, wrapper_connect_timeout_sec=0.3)
    await until(lambda: proxy.tasks <= tasks and proxy.connections <= connections, timeout=5)


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "soon"])
async def test_bad_driver_connect_timeout_is_rejected(cluster_testbed: Testbed, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="for property 'connect_timeout'"):
        await connect(cluster_testbed, connect_timeout=bad)
