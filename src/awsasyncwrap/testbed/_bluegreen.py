"""Blue/green deployments on a testbed: a green cluster replicating from blue, and a switchover.

:meth:`BlueGreenDeployment.create` adds a green cluster (its own instances and fault proxies on another
``127.0.K.0/24``, same port) whose nodes replicate from the blue writer, gives both clusters Aurora-like
host names (see ``_resolver``) and publishes the status metadata on every node.
:meth:`BlueGreenDeployment.switchover` walks the statuses as RDS does:

1. ``SWITCHOVER_INITIATED`` for ``preparation`` seconds (2.0: clients polling at the CREATED rate see it);
2. ``SWITCHOVER_IN_PROGRESS``; ``notice`` seconds later writes stop on blue (read-only, and the blue
   writer's traffic is held at its proxies), green catches up with everything blue committed and is
   promoted, the green readers follow it, and the names switch: blue names now reach green, blue
   gets ``-old1`` names. The held blue connections are reset (RDS drops them);
3. ``SWITCHOVER_IN_POST_PROCESSING`` for ``post`` seconds;
4. ``SWITCHOVER_COMPLETED``; the green names are removed from DNS.

``rollback=True`` stops after step 2's fence: blue becomes writable again, its held traffic flows and
the status goes back to ``AVAILABLE`` (a switchover that timed out).
"""

from __future__ import annotations

import asyncio
import logging
import random
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from . import _bgengine, _roles, _settle
from ._engine import EngineOptions
from ._errors import TestbedError
from ._model import Instance
from ._ports import claim_cluster_addresses, free_port, release_ports
from ._resolver import NameTable, write_hosts_file

if TYPE_CHECKING:
    from ._cluster import Testbed

__all__ = ["BlueGreenDeployment", "BlueGreenNames", "PhaseSeconds", "SwitchoverReport"]

logger = logging.getLogger(__name__)

Side = Literal["blue", "green"]
_GREEN_OFFSET = 10  # green instance N+10 corresponds to blue instance N (distinct server ids)


def _random_id(length: int) -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(length))


@dataclass(frozen=True)
class BlueGreenNames:
    """Aurora-like host names: ``mydb.cluster-<rid>.us-east-1.rds.amazonaws.com`` and friends."""

    cluster: str
    rid: str
    gid: str
    region: str = "us-east-1"

    @property
    def domain(self) -> str:
        return f"{self.rid}.{self.region}.rds.amazonaws.com"

    @property
    def zones(self) -> tuple[str, ...]:
        """The DNS suffixes these names live under (owned by the testbed's resolver)."""
        return (self.domain, f"cluster-{self.domain}", f"cluster-ro-{self.domain}")

    def blue(self, what: str) -> str:
        """``what``: ``"cluster"``, ``"reader"`` or an instance number."""
        if what == "cluster":
            return f"{self.cluster}.cluster-{self.domain}"
        if what == "reader":
            return f"{self.cluster}.cluster-ro-{self.domain}"
        return f"{self.cluster}-instance-{what}.{self.domain}"

    def green(self, what: str) -> str:
        return self.suffixed(self.blue(what), f"-green-{self.gid}")

    def old(self, what: str) -> str:
        return self.suffixed(self.blue(what), "-old1")

    @staticmethod
    def suffixed(name: str, suffix: str) -> str:
        first, rest = name.split(".", 1)
        return f"{first}{suffix}.{rest}"


@dataclass(frozen=True)
class PhaseSeconds:
    """Timing of :meth:`BlueGreenDeployment.switchover` (seconds)."""

    preparation: float = 2.0  # SWITCHOVER_INITIATED before SWITCHOVER_IN_PROGRESS (> a CREATED poll, 1 s)
    notice: float = 0.3  # SWITCHOVER_IN_PROGRESS before writes stop on blue
    post: float = 1.0  # SWITCHOVER_IN_POST_PROCESSING before SWITCHOVER_COMPLETED

    @classmethod
    def parse(cls, text: str) -> PhaseSeconds:
        """``"PREP,NOTICE,POST"`` (e.g. ``"1,0.3,1"``)."""
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 3 or any(v < 0 for v in values):
            raise TestbedError(
                f"bad phase seconds {text!r}; valid: PREPARATION,NOTICE,POST (>= 0), e.g. 2,0.3,1"
            )
        return cls(*values)


@dataclass
class SwitchoverReport:
    """Timestamps (``time.monotonic()``) and durations (seconds) of one switchover."""

    rolled_back: bool
    initiated_at: float
    in_progress_at: float
    writes_stopped_at: float = 0.0
    promoted_at: float = 0.0
    renamed_at: float = 0.0
    post_at: float = 0.0
    completed_at: float = 0.0
    catch_up: float = 0.0
    promote: float = 0.0
    blue_writes_at_stop: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BlueGreenDeployment:
    """A green cluster next to a blue testbed, with names, status metadata and :meth:`switchover`."""

    def __init__(self, blue: Testbed, green: Testbed, names: BlueGreenNames, hosts_file: Path | None) -> None:
        self.blue = blue
        self.green = green
        self.names = names
        self.status = "AVAILABLE"
        self.switched = False
        self.green_dns_removed = False
        self._table = NameTable(names.zones)
        self._hosts_file = hosts_file
        self._lock = asyncio.Lock()
        self._closed = False
        self._stale_dns = False  # after the switch, for ``dns_lag`` s: blue names still resolve to blue
        self._dns_timer: asyncio.TimerHandle | None = None
        self._dns_lag = 0.0

    # -- creation ------------------------------------------------------------------------------

    @classmethod
    async def create(
        cls, blue: Testbed, *, cluster: str = "mydb", hosts_file: str | Path | None = None
    ) -> BlueGreenDeployment:
        """Add a green cluster to ``blue`` (same instance count) and publish status ``AVAILABLE``."""
        from ._cluster import Testbed
        from ._create import make_engine

        if not blue.writer.running:
            raise TestbedError(f"blue writer {blue.writer.id} is down")
        started = time.perf_counter()
        # the green writer corresponds to the blue writer; green instance N+10 to blue instance N
        ordered = [blue.writer, *blue.readers]
        numbers = [inst.number + _GREEN_OFFSET for inst in ordered]
        addresses = claim_cluster_addresses(numbers, port=blue.port)
        base = blue.base_dir / "green"
        ports: list[int] = []
        try:
            base.mkdir()
            for _ in numbers:
                ports.append(free_port(avoid=[*ports, *(i.node_port for i in blue.instances)]))
            instances = [
                Instance(
                    id=str(n),
                    node_port=port,
                    address=(addresses.host(n), addresses.port),
                    role="writer" if i == 0 else "reader",
                    data_dir=base / f"n{n}" / "data",
                    log_file=base / f"n{n}" / "server.log",
                )
                for i, (n, port) in enumerate(zip(numbers, ports, strict=True))
            ]
            blue_options = blue._engine.options
            options = EngineOptions(
                base_dir=base,
                proxy_port=addresses.port,
                host_of={inst.id: inst.address[0] for inst in instances},
                bin_dir=blue_options.bin_dir,
                aurora_ext=False,
                timeout=blue_options.timeout,
            )
        except BaseException:
            addresses.close()
            release_ports(ports)
            raise
        green = Testbed(make_engine(blue.engine, options), instances, addresses, base_dir=base, dns_lag=0.0)
        names = BlueGreenNames(cluster, f"tb{addresses.k}{_random_id(7)}", _random_id(6))
        deployment = cls(blue, green, names, Path(hosts_file) if hosts_file else None)
        try:
            green._start_proxies()
            for proxy in green._proxies.values():
                await proxy.start()
            await green._engine.prepare()
            await _bgengine.seed_green(green._engine, blue._engine, instances, blue.writer)
            await _bgengine.install_metadata(blue._engine, blue.writer, deployment.metadata_rows("AVAILABLE"))
            await deployment._wait_green_caught_up()
        except BaseException:
            await deployment.aclose()
            raise
        deployment._publish_names()
        logger.info(
            "green cluster %s up in %.2f s (%s)",
            names.green("cluster"),
            time.perf_counter() - started,
            green.host_pattern,
        )
        return deployment

    # -- names ---------------------------------------------------------------------------------

    def _counterpart(self, blue_inst: Instance) -> Instance:
        return self.green.instance(blue_inst.number + _GREEN_OFFSET)

    def metadata_rows(self, status: str) -> list[tuple[str, int, str, str]]:
        """(endpoint, port, role, status) of every blue and green endpoint, as RDS lists them."""
        port = self.blue.port
        rows: list[tuple[str, int, str, str]] = []
        for what in ("cluster", "reader", *(i.id for i in self.blue.instances)):
            rows.append((self.names.blue(what), port, _bgengine.SOURCE, status))
            rows.append((self.names.green(what), port, _bgengine.TARGET, status))
        return rows

    def _name_table(self) -> dict[str, str]:
        n = self.names
        blue: dict[str, str] = {
            "cluster": self.blue.cluster_endpoint[0],
            "reader": self.blue.reader_endpoint[0],
        }
        green: dict[str, str] = {
            "cluster": self.green.cluster_endpoint[0],
            "reader": self.green.reader_endpoint[0],
        }
        for inst in self.blue.instances:
            blue[inst.id] = inst.address[0]
            green[inst.id] = self._counterpart(inst).address[0]
        table: dict[str, str] = {}
        if not self.switched:
            table.update({n.blue(w): ip for w, ip in blue.items()})
            table.update({n.green(w): ip for w, ip in green.items()})
            return table
        table.update({n.blue(w): ip for w, ip in (blue if self._stale_dns else green).items()})
        table.update({n.old(w): ip for w, ip in blue.items()})
        if not self.green_dns_removed:
            table.update({n.green(w): ip for w, ip in green.items()})
        return table

    def _publish_names(self) -> None:
        names = self._name_table()
        self._table.set(names)
        self._table.install()
        if self._hosts_file is not None:
            write_hosts_file(self._hosts_file, self._table.zones, names)

    def host(self, which: str = "cluster", side: Side | Literal["old"] = "blue") -> str:
        """The host name of ``which`` (``"cluster"``, ``"reader"`` or a blue instance id) on ``side``."""
        if which not in ("cluster", "reader"):
            which = self.blue.instance(which).id
        if side == "blue":
            return self.names.blue(which)
        if side == "green":
            return self.names.green(which)
        if side == "old":
            return self.names.old(which)
        raise TestbedError(f"bad side {side!r}; valid: blue, green, old")

    def dsn(self, which: str = "cluster", side: Side | Literal["old"] = "blue", **extra: object) -> str:
        """A libpq conninfo string for a host name (PostgreSQL)."""
        if self.blue.engine != "postgres":
            raise TestbedError("dsn() is for postgres testbeds; use connect_kwargs() for mariadb")
        parts = {
            "host": self.host(which, side),
            "port": self.blue.port,
            "user": self.blue.user,
            "dbname": self.blue.database,
            **extra,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def connect_kwargs(
        self, which: str = "cluster", side: Side | Literal["old"] = "blue", **extra: Any
    ) -> dict[str, Any]:
        """Driver keyword arguments for a host name (aiomysql ``db=``, psycopg ``dbname=``)."""
        return self.blue.connect_kwargs((self.host(which, side), self.blue.port), **extra)

    # -- switchover ----------------------------------------------------------------------------

    async def _set_status(self, status: str, *, green_too: bool) -> None:
        await _bgengine.set_status(self.blue._engine, self.blue.writer, status)
        if green_too:
            await _bgengine.set_status(self.green._engine, self.green.writer, status)
        self.status = status
        logger.info("blue/green status %s", status)

    async def _wait_green_caught_up(self) -> None:
        with anyio.fail_after(self.blue._engine.options.timeout):
            for inst in self.green.instances:
                await self.blue._engine.catch_up(self.blue.writer, inst)

    async def switchover(
        self, phase_seconds: PhaseSeconds | None = None, *, rollback: bool = False, dns_lag: float = 0.0
    ) -> SwitchoverReport:
        """Switch over to green (see the module docs); ``rollback`` goes back to blue instead.

        ``dns_lag``: seconds the blue names keep resolving to (old) blue after the switch, like cached
        DNS answers (the ``-old1`` and green names are right at once).
        """
        if dns_lag < 0:
            raise TestbedError(f"bad dns_lag {dns_lag!r}; must be >= 0")
        async with self._lock:
            if self.switched:
                raise TestbedError("this deployment has switched over already")
            self._dns_lag = dns_lag
            return await self._switchover(phase_seconds or PhaseSeconds(), rollback)

    def _dns_caught_up(self) -> None:
        self._stale_dns = False
        if not self._closed:
            self._publish_names()

    async def _switchover(self, ps: PhaseSeconds, rollback: bool) -> SwitchoverReport:
        blue, green = self.blue, self.green
        bw, gw = blue.writer, green.writer
        report = SwitchoverReport(rollback, time.monotonic(), 0.0)
        await self._set_status("SWITCHOVER_INITIATED", green_too=False)
        await asyncio.sleep(ps.preparation)
        await self._set_status("SWITCHOVER_IN_PROGRESS", green_too=False)
        report.in_progress_at = time.monotonic()
        await self._wait_green_caught_up()  # green sees the status too
        await asyncio.sleep(ps.notice)
        await _bgengine.set_blue_read_only(blue._engine, bw, True)
        _roles.fence(blue, bw)
        report.writes_stopped_at = time.monotonic()
        if rollback:
            await _bgengine.set_blue_read_only(blue._engine, bw, False)
            _roles.unfence(blue, bw)
            await self._set_status("AVAILABLE", green_too=False)
            report.completed_at = time.monotonic()
            return report
        try:
            t0 = time.perf_counter()
            await self._wait_green_caught_up()
            report.catch_up = time.perf_counter() - t0
            t0 = time.perf_counter()
            await green._engine.promote(gw)
            with anyio.fail_after(green._engine.options.timeout):
                await green._engine.wait_writable(gw)
            report.promote = time.perf_counter() - t0
            report.promoted_at = time.monotonic()
            for inst in green.readers:
                if not await _roles.follow(green, inst, gw, 5.0):
                    await green._engine.stop(inst)
                    inst.running = False
                    await _roles.start(green, inst, force_rebuild=True)
            await _settle.publish(green)
            self.switched = True
            if self._dns_lag > 0:
                self._stale_dns = True
                self._dns_timer = asyncio.get_running_loop().call_later(self._dns_lag, self._dns_caught_up)
            self._publish_names()
            report.renamed_at = time.monotonic()
        finally:
            for proxy in blue._proxies.values():  # RDS drops the blue connections
                proxy.unfence(("127.0.0.1", bw.node_port), drop=True)
        await self._set_status("SWITCHOVER_IN_POST_PROCESSING", green_too=True)
        report.post_at = time.monotonic()
        await asyncio.sleep(ps.post)
        await self._set_status("SWITCHOVER_COMPLETED", green_too=True)
        self.green_dns_removed = True
        self._publish_names()
        report.completed_at = time.monotonic()
        return report

    # -- teardown ------------------------------------------------------------------------------

    async def delete(self) -> None:
        """Remove the status metadata (the phase goes back to NOT_CREATED); the clusters stay."""
        async with self._lock:
            await _bgengine.drop_metadata(self.blue._engine, self.blue.writer)
            if self.switched:
                await _bgengine.drop_metadata(self.green._engine, self.green.writer)

    async def aclose(self) -> None:
        """Stop the green cluster and forget the names. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._dns_timer is not None:
            self._dns_timer.cancel()
        self._table.uninstall()
        if self._hosts_file is not None:
            self._hosts_file.unlink(missing_ok=True)
        await self.green.aclose()

    def __repr__(self) -> str:
        return f"<BlueGreenDeployment {self.names.blue('cluster')} status={self.status}>"


async def daemon_command(tb: Testbed, req: dict[str, Any]) -> dict[str, Any]:
    """The CLI's ``bluegreen`` command, run by the daemon; the reply has printable ``bluegreen`` lines."""
    action = req.get("action")
    bg = tb.blue_green
    if action == "create":
        bg = await tb.create_blue_green(hosts_file=tb.base_dir / "hosts")
    elif bg is None:
        raise TestbedError("no blue/green deployment; run `bluegreen create` first")
    lines: list[str] = []
    if action == "switchover":
        text = req.get("phase_seconds")
        report = await bg.switchover(
            PhaseSeconds.parse(text) if text else None,
            rollback=bool(req.get("rollback")),
            dns_lag=float(req.get("dns_lag") or 0.0),
        )
        t0 = report.initiated_at
        lines.append(
            ("rolled back" if report.rolled_back else "switched over")
            + f" in {report.completed_at - t0:.3f} s (in progress at +{report.in_progress_at - t0:.3f},"
            f" writes stopped +{report.writes_stopped_at - t0:.3f}"
            + (
                ""
                if report.rolled_back
                else f", promoted +{report.promoted_at - t0:.3f}, renamed +{report.renamed_at - t0:.3f}"
            )
            + ")"
        )
    elif action == "delete":
        await bg.delete()
    elif action not in ("create", "status"):
        raise TestbedError(f"bad bluegreen action {action!r}; valid: create, switchover, status, delete")
    lines.append(
        f"status {bg.status}; resolve the names in your process: "
        f"awsasyncwrap.testbed.use_hosts_file({str(tb.base_dir / 'hosts')!r})"
    )
    lines.extend(f"  {ip:15} {name}" for name, ip in sorted(bg._name_table().items()))
    return {"bluegreen": lines, "status": (await bg.green.status()).to_dict()}
