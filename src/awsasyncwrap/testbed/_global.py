"""Aurora Global Database on a testbed: one replication group whose instances are labelled with regions.

``Testbed.start(engine, regions={"us-east-1": 3, "eu-west-1": 2})`` numbers the instances 1..N in the
order of ``regions`` (the first region is the primary: instance 1 is the writer). Each region gets its own
``127.0.K.0/24`` (same port), so its instances' hosts follow its own pattern (:attr:`global_host_patterns`).
Every node answers Aurora's global status functions (PostgreSQL ``aurora_global_db_status()`` /
``aurora_global_db_instance_status()``; MariaDB the same-named views in ``aurora_emul``, as
``information_schema`` cannot be extended). The primary region is always the writer's region.

The global writer endpoint ``<name>.global-<id>.global.rds.amazonaws.com`` resolves in this process (see
``_resolver``; ``<base_dir>/hosts-global`` for other processes) to a proxy that follows the writer.
:meth:`GlobalMixin.global_switchover` is planned (the target catches up with every acknowledged commit,
the old writer rejoins as a reader); :meth:`GlobalMixin.global_failover` cuts the old primary region off
(its proxies blackhole) and promotes a writer in the target region.
"""

from __future__ import annotations

import logging
import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _roles, _settle
from ._errors import TestbedError
from ._model import FailoverReport, Instance
from ._ports import ClusterAddresses, _listener, claim_cluster_addresses
from ._proxy import FaultProxy, parse_mode
from ._resolver import NameTable, write_hosts_file
from ._sql import sql_statements, sql_text

if TYPE_CHECKING:
    from ._cluster import InstanceRef, Testbed

__all__ = ["GlobalMixin", "GlobalState", "RegionLayout", "claim_regions", "parse_regions", "plan_regions"]

logger = logging.getLogger(__name__)

GLOBAL_HOST = 202  # last octet of the global writer endpoint in the first region's subnet
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

#: MariaDB: the global dialect is forced and its topology query reads the emulation's view
_MARIADB_PROPS = {
    "wrapper_dialect": "global-aurora-mysql",
    "topology_query": (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, "
        "VISIBILITY_LAG_IN_MSEC, AWS_REGION FROM aurora_emul.aurora_global_db_instance_status"
    ),
}


def parse_regions(text: str) -> dict[str, int]:
    """``"us-east-1:3,eu-west-1:2"`` -> ``{"us-east-1": 3, "eu-west-1": 2}`` (validated)."""
    regions: dict[str, int] = {}
    for part in text.split(","):
        region, sep, count = part.strip().partition(":")
        if not sep or not count.strip().isdigit() or region.strip() in regions:
            raise TestbedError(f"bad regions {text!r}; valid: REGION:COUNT,... e.g. us-east-1:3,eu-west-1:2")
        regions[region.strip()] = int(count)
    plan_regions(regions)
    return regions


def plan_regions(regions: Mapping[str, int], most: int = 16) -> dict[str, list[int]]:
    """Instance numbers of each region (1..N in order); raises :class:`TestbedError` on bad input."""
    if not regions:
        raise TestbedError("regions must name at least one region")
    plan: dict[str, list[int]] = {}
    first = 1
    for region, count in regions.items():
        if not isinstance(region, str) or not _REGION.match(region):
            raise TestbedError(f"bad region {region!r}; valid: an AWS region name such as us-east-1")
        if not isinstance(count, int) or count < 1:
            raise TestbedError(f"bad instance count {count!r} for region {region}; must be >= 1")
        plan[region] = list(range(first, first + count))
        first += count
    if first - 1 > most:
        raise TestbedError(f"too many instances ({first - 1}); valid: 1..{most} in all regions")
    return plan


@dataclass
class RegionLayout:
    """Where each region's instances listen: the first region's addresses hold every instance's socket."""

    plan: dict[str, list[int]]
    subnets: dict[str, int]  # region -> K of 127.0.K.0/24
    addresses: ClusterAddresses  # the first region's (endpoints), plus every instance's socket

    def host(self, number: int) -> str:
        return f"127.0.{self.subnets[self.region_of(number)]}.{number}"

    def region_of(self, number: int) -> str:
        for region, numbers in self.plan.items():
            if number in numbers:
                return region
        raise TestbedError(f"instance {number} is in no region")


def claim_regions(plan: dict[str, list[int]], *, port: int | None, k: int | None) -> RegionLayout:
    """Bind every region's instance sockets, each region on its own free ``127.0.K.0/24``."""
    regions = list(plan)
    first = claim_cluster_addresses(plan[regions[0]], port=port, k=k)
    subnets = {regions[0]: first.k}
    try:
        for region in regions[1:]:
            # the claim includes .200/.201, bound in every subnet claimed so far: each region gets a new K
            other = claim_cluster_addresses(plan[region], port=first.port)
            subnets[region] = other.k
            for n in plan[region]:
                first.sockets[n] = other.sockets.pop(n)
            other.close()
    except BaseException:
        first.close()
        raise
    return RegionLayout(plan, subnets, first)


def _random_id(length: int) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(length))


@dataclass
class GlobalState:
    """A global testbed's regions, its global endpoint name and its resolver table."""

    layout: RegionLayout
    name: str = "mydb"
    gid: str = field(default_factory=lambda: f"tb{_random_id(8)}")
    table: NameTable | None = None

    @property
    def zone(self) -> str:
        return f"global-{self.gid}.global.rds.amazonaws.com"

    @property
    def host(self) -> str:
        return f"{self.name}.{self.zone}"


def _literal(text: str) -> str:
    if "'" in text or "\\" in text:
        raise TestbedError(f"bad SQL literal {text!r}")
    return f"'{text}'"


def _tb(mixin: GlobalMixin) -> Testbed:
    return mixin  # type: ignore[return-value]  # GlobalMixin is only ever a Testbed base


class GlobalMixin:
    """The Global Database part of :class:`Testbed` (every method raises on a testbed without regions)."""

    _global: GlobalState | None

    def _gdb(self) -> GlobalState:
        if self._global is None:
            raise TestbedError("not a global testbed: start it with regions={...} (CLI: up --global ...)")
        return self._global

    @property
    def is_global(self) -> bool:
        return self._global is not None

    @property
    def regions(self) -> dict[str, list[Instance]]:
        """Region -> its instances (the first region listed at start first)."""
        tb = _tb(self)
        plan = tb._gdb().layout.plan
        return {region: [tb.instance(n) for n in numbers] for region, numbers in plan.items()}

    def region_of(self, which: InstanceRef) -> str:
        """The region of an instance."""
        tb = _tb(self)
        return tb._gdb().layout.region_of(tb.instance(which).number)

    @property
    def primary_region(self) -> str:
        """The writer's region (it changes with :meth:`global_switchover` / :meth:`global_failover`)."""
        tb = _tb(self)
        return tb.region_of(tb.writer)

    @property
    def global_endpoint(self) -> tuple[str, int]:
        """``(<name>.global-<id>.global.rds.amazonaws.com, port)``: the global writer endpoint (follows
        the writer; the name resolves in this process while the testbed is up)."""
        tb = _tb(self)
        return (tb._gdb().host, tb.port)

    @property
    def global_endpoint_address(self) -> tuple[str, int]:
        """The loopback address behind :attr:`global_endpoint`."""
        tb = _tb(self)
        return tb._proxies["global"].address

    @property
    def global_host_patterns(self) -> str:
        """The value for ``global_cluster_instance_host_patterns``: ``region:127.0.K.?:port,...``."""
        tb = _tb(self)
        layout = tb._gdb().layout
        return ",".join(f"{r}:127.0.{k}.?:{tb.port}" for r, k in layout.subnets.items())

    @property
    def hosts_file(self) -> str:
        """The file another process passes to ``use_hosts_file`` to resolve :attr:`global_endpoint`."""
        tb = _tb(self)
        tb._gdb()
        return str(tb.base_dir / "hosts-global")

    def _with_global_props(self, props: dict[str, str]) -> dict[str, str]:
        if self._global is None:
            return props
        tb = _tb(self)
        props.pop("cluster_instance_host_pattern", None)
        props["global_cluster_instance_host_patterns"] = tb.global_host_patterns
        if tb.engine == "mariadb":
            props.update(_MARIADB_PROPS)
        return props

    def region_proxies(self, region: str) -> list[FaultProxy]:
        """The proxies of a region: its instances' (and, for the first region, the cluster and reader
        endpoints'). The global endpoint belongs to no region."""
        tb = _tb(self)
        plan = tb._gdb().layout.plan
        if region not in plan:
            raise TestbedError(f"bad region {region!r}; valid: {', '.join(plan)}")
        proxies = [tb._proxies[str(n)] for n in plan[region]]
        if region == next(iter(plan)):
            proxies += [tb._proxies["cluster"], tb._proxies["reader"]]
        return proxies

    def net_region(self, region: str, mode: str) -> None:
        """Set the fault mode of every proxy of ``region`` (``pass``, ``blackhole``, ``delay:MS``, ...):
        cross-region latency, or a region cut off."""
        tb = _tb(self)
        parse_mode(mode)
        for proxy in tb.region_proxies(region):
            proxy.set_mode(mode)

    # -- hooks called by Testbed ----------------------------------------------------------------

    def _start_global_proxies(self) -> None:
        tb = _tb(self)
        state = tb._global
        if state is None:
            return
        k = state.layout.subnets[next(iter(state.layout.plan))]
        sock = _listener(f"127.0.{k}.{GLOBAL_HOST}", tb.port)
        tb._proxies["global"] = FaultProxy(sock, tb._endpoints.cluster_target, name="global")
        state.table = NameTable((state.zone,))
        state.table.set({state.host: f"127.0.{k}.{GLOBAL_HOST}"})
        state.table.install()
        write_hosts_file(tb.base_dir / "hosts-global", state.table.zones, state.table.names)

    async def _install_global(self) -> None:
        """Install the global status emulation and the region labels on the writer; wait for the readers."""
        tb = _tb(self)
        state = tb._global
        if state is None:
            return
        writer = tb.writer
        rows = [(inst.id, tb.region_of(inst)) for inst in tb.instances]
        values = ", ".join(f"({_literal(i)}, {_literal(r)})" for i, r in rows)
        engine: Any = tb._engine
        if tb.engine == "postgres":
            await engine._query(writer.node_port, sql_text("global_pg.sql"))
            await engine._query(writer.node_port, f"INSERT INTO aurora_emul.instance_region VALUES {values}")
        else:
            await engine._query(writer, *sql_statements(sql_text("global_mariadb.sql")))
            await engine._query(writer, f"INSERT INTO aurora_emul.instance_region VALUES {values}")
        for inst in tb.readers:
            if inst.running:
                await tb._engine.catch_up(writer, inst)

    def _close_global(self) -> None:
        state = self._global
        if state is not None and state.table is not None:
            state.table.uninstall()

    def _failover_candidates(self, live: list[Instance]) -> list[Instance]:
        """A regional failover stays in the writer's region when that region has a live reader."""
        tb = _tb(self)
        if tb._global is None:
            return live
        home = tb.primary_region
        same = [inst for inst in live if tb.region_of(inst) == home]
        return same or live

    # -- global operations ----------------------------------------------------------------------

    async def _region_target(self, region: str) -> Instance:
        tb = _tb(self)
        plan = tb._gdb().layout.plan
        if region not in plan:
            raise TestbedError(f"bad region {region!r}; valid: {', '.join(plan)}")
        if region == tb.primary_region:
            raise TestbedError(f"region {region} is the primary region already")
        live = [inst for inst in tb.regions[region] if inst.running]
        if not live:
            raise TestbedError(f"no running instance in region {region} to promote")
        return await _roles.most_advanced(tb, live)

    async def global_switchover(self, to_region: str) -> FailoverReport:
        """Planned switchover: the most advanced instance of ``to_region`` gets every acknowledged commit
        of the (fenced) writer and is promoted; the old writer rejoins as a reader. Raises
        :class:`TestbedError` (and leaves the writer as it was) if the target cannot catch up within
        :attr:`catch_up_timeout`."""
        tb = _tb(self)
        async with tb._lock:
            target = await tb._region_target(to_region)
            old = tb.writer
            report = await _roles.failover(tb, target, 0.0, strict=True)
            await _roles.start(tb, old)
            await _settle.publish(tb)
            await _settle.settle(tb)
        logger.info("global switchover to %s: writer %s -> %s", to_region, old.id, target.id)
        return report

    async def global_failover(self, to_region: str) -> FailoverReport:
        """Unplanned failover: every proxy of the primary region blackholes (it is cut off), its writer
        crashes and the most advanced instance of ``to_region`` is promoted. The old region's readers
        follow the new writer behind their blackholed proxies; ``net_region(old, "pass")`` or
        :meth:`heal` reconnects the region (the old writer stays down until :meth:`rejoin` / heal)."""
        tb = _tb(self)
        async with tb._lock:
            target = await tb._region_target(to_region)
            old_region = tb.primary_region
            tb.net_region(old_region, "blackhole")
            report = await _roles.failover(tb, target, 0.0)
            await _settle.settle(tb)
        logger.info("global failover %s -> %s: new writer %s", old_region, to_region, target.id)
        return report


async def daemon_command(tb: Testbed, req: dict[str, Any]) -> dict[str, Any]:
    """The CLI's ``global`` command, run by the daemon."""
    action = req.get("action")
    reply: dict[str, Any] = {}
    if action in ("switchover", "failover"):
        to = str(req.get("to") or "")
        op = tb.global_switchover if action == "switchover" else tb.global_failover
        reply["report"] = (await op(to)).to_dict()
    elif action == "net":
        tb.net_region(str(req.get("region") or ""), str(req.get("mode") or ""))
    elif action != "status":
        raise TestbedError(f"bad global action {action!r}; valid: status, switchover, failover, net")
    lines = [
        f"global endpoint {tb.global_endpoint[0]}:{tb.port} -> writer {tb.writer.id} "
        f"(primary region {tb.primary_region})",
        *(f"  {r}: instances {','.join(i.id for i in insts)}" for r, insts in tb.regions.items()),
        f"global_cluster_instance_host_patterns={tb.global_host_patterns}",
        f"resolve the name in your process: awsasyncwrap.testbed.use_hosts_file({tb.hosts_file!r})",
    ]
    return {**reply, "lines": lines, "status": (await tb.status()).to_dict()}
