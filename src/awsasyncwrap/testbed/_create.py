"""Creating a :class:`Testbed`: validation, addresses, instances, engine, and the first start-up."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _settle
from ._engine import Engine, EngineOptions
from ._errors import TestbedError
from ._global import GlobalState, RegionLayout, claim_regions, plan_regions
from ._model import EngineName, Instance
from ._ports import check_port_free, claim_cluster_addresses, free_port
from ._proc import raise_fd_limit

if TYPE_CHECKING:
    from ._cluster import Testbed

__all__ = ["CATCH_UP_TIMEOUT", "ENGINES", "MAX_INSTANCES", "Starting", "create", "make_engine"]

logger = logging.getLogger(__name__)

ENGINES: tuple[EngineName, ...] = ("postgres", "mariadb")
MAX_INSTANCES = 16
CATCH_UP_TIMEOUT = 5.0  # default seconds a stopping writer's last commits get to reach its readers
_FD_LIMIT = 8192  # open files this process wants: its proxies hold 2 sockets per client connection


def make_engine(name: str, options: EngineOptions) -> Engine:
    if name == "postgres":
        from ._postgres import PostgresEngine

        return PostgresEngine(options)
    from ._mariadb import MariaDBEngine

    return MariaDBEngine(options)


class Starting:
    """What :meth:`Testbed.start` returns: await it, or use it as ``async with``."""

    def __init__(self, factory: Callable[[], Awaitable[Testbed]]) -> None:
        self._factory = factory
        self._testbed: Testbed | None = None

    def __await__(self) -> Generator[Any, None, Testbed]:
        return self._factory().__await__()

    async def __aenter__(self) -> Testbed:
        self._testbed = await self._factory()
        return self._testbed

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._testbed is not None:
            await self._testbed.aclose()


async def create(
    cls: type[Testbed],
    engine_name: str,
    count: int,
    base_dir: str | os.PathLike[str] | None,
    *,
    base_port: int | None,
    loopback_k: int | None,
    dns_lag: float,
    catch_up_timeout: float,
    bin_dir: str | os.PathLike[str] | None,
    aurora_ext: bool | None,
    step_timeout: float,
    regions: Mapping[str, int] | None = None,
) -> Testbed:
    """Validate, claim addresses, build the instances and the engine, start everything and settle."""
    plan = plan_regions(regions, MAX_INSTANCES) if regions is not None else None
    count = sum(map(len, plan.values())) if plan else count
    if engine_name not in ENGINES:
        raise TestbedError(f"unknown engine {engine_name!r}; valid: {', '.join(ENGINES)}")
    if not isinstance(count, int) or not 1 <= count <= MAX_INSTANCES:
        raise TestbedError(f"bad instance count {count!r}; valid: 1..{MAX_INSTANCES}")
    if dns_lag < 0:
        raise TestbedError(f"bad dns_lag {dns_lag!r}; must be >= 0")
    if catch_up_timeout < 0:
        raise TestbedError(f"bad catch_up_timeout {catch_up_timeout!r}; must be >= 0")
    started = time.perf_counter()
    raise_fd_limit(_FD_LIMIT)
    numbers = list(range(1, count + 1))
    if base_port is not None:
        for n in numbers:
            check_port_free(base_port + n)
    layout: RegionLayout | None = None
    if plan is not None:
        layout = claim_regions(plan, port=base_port, k=loopback_k)
        addresses = layout.addresses
    else:
        addresses = claim_cluster_addresses(numbers, port=base_port, k=loopback_k)
    host_of = layout.host if layout is not None else addresses.host
    try:
        base = _make_base_dir(engine_name, base_dir)
    except BaseException:
        addresses.close()
        raise
    node_ports: list[int] = []
    for n in numbers:
        node_ports.append(base_port + n if base_port is not None else free_port(avoid=node_ports))
    instances = [
        Instance(
            id=str(n),
            node_port=port,
            address=(host_of(n), addresses.port),
            role="writer" if n == 1 else "reader",
            data_dir=base / f"n{n}" / "data",
            log_file=base / f"n{n}" / "server.log",
        )
        for n, port in zip(numbers, node_ports, strict=True)
    ]
    options = EngineOptions(
        base_dir=base,
        proxy_port=addresses.port,
        host_of={inst.id: inst.address[0] for inst in instances},
        bin_dir=Path(bin_dir) if bin_dir is not None else None,
        aurora_ext=aurora_ext,
        timeout=step_timeout,
    )
    testbed = cls(
        make_engine(engine_name, options),
        instances,
        addresses,
        base_dir=base,
        dns_lag=dns_lag,
        catch_up_timeout=catch_up_timeout,
    )
    testbed._global = GlobalState(layout) if layout is not None else None
    try:
        testbed._start_proxies()
        for proxy in testbed._proxies.values():
            await proxy.start()
        await testbed._engine.prepare()
        await testbed._engine.bootstrap(instances)
        await testbed._install_global()
        await _settle.settle(testbed)
    except BaseException:
        await testbed.aclose()
        raise
    logger.info(
        "%s testbed up: %d instance(s), %s port %d, in %.2f s",
        engine_name,
        count,
        testbed.host_pattern,
        addresses.port,
        time.perf_counter() - started,
    )
    return testbed


def _make_base_dir(engine: str, base_dir: str | os.PathLike[str] | None) -> Path:
    if base_dir is None:
        return Path(tempfile.mkdtemp(prefix=f"awsasyncwrap-tb-{engine}-"))
    base = Path(base_dir).absolute()
    if (base / "n1").exists():
        raise TestbedError(f"{base} already holds a testbed")
    base.mkdir(parents=True, exist_ok=True)
    return base
