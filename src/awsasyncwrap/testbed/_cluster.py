"""The :class:`Testbed`: nodes, their fault proxies, endpoints and cluster operations."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._engine import Engine, EngineOptions
from ._errors import TestbedError
from ._global import GlobalMixin, GlobalState, RegionLayout, claim_regions, plan_regions
from ._model import EngineName, FailoverReport, Instance, InstanceStatus, TestbedStatus
from ._ports import (
    CLUSTER_HOST,
    READER_HOST,
    ClusterAddresses,
    check_port_free,
    claim_cluster_addresses,
    free_port,
)
from ._proc import raise_fd_limit, remove_tree
from ._proxy import FaultProxy, parse_mode
from ._silence import SilenceWatch
from ._wait import until

if TYPE_CHECKING:
    from ._bluegreen import BlueGreenDeployment

__all__ = ["ENGINES", "Testbed"]

logger = logging.getLogger(__name__)

ENGINES: tuple[EngineName, ...] = ("postgres", "mariadb")
MAX_INSTANCES = 16
CATCH_UP_TIMEOUT = 5.0  # default seconds a stopping writer's last commits get to reach its readers
_GRACE = 0.5  # seconds the other readers get once the one that matters has caught up
_FOLLOW = 2.0  # seconds a repointed replica gets to stream before it is rebuilt (normally 0.05 s)
_SETTLE_POLL = 0.01  # seconds between two looks at every instance's topology while it settles
_SETTLE_POLL_MAX = 0.2  # ... doubling up to this
_FD_LIMIT = 8192  # open files this process wants: its proxies hold 2 sockets per client connection

_ENDPOINT_PROXIES = ("cluster", "reader", "global")  # endpoint proxies whose mode status() reports
InstanceRef = Instance | int | str
EndpointName = Literal["cluster", "reader"]


def _make_engine(name: str, options: EngineOptions) -> Engine:
    if name == "postgres":
        from ._postgres import PostgresEngine

        return PostgresEngine(options)
    from ._mariadb import MariaDBEngine

    return MariaDBEngine(options)


def _conninfo_value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in " '\\\t\n"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _succeeded(task: asyncio.Future[bool]) -> bool:
    """True if ``task`` finished and returned True (False if it failed, was cancelled or runs)."""
    if not task.done() or task.cancelled():
        return False
    if task.exception() is not None:
        logger.info("catch-up step failed: %r", task.exception())
        return False
    return task.result()


class _Starting:
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


class Testbed(GlobalMixin):
    """A local emulated Aurora cluster: real servers on 127.0.0.1, each behind a fault proxy.

    Instance ``N`` is reachable at ``127.0.K.N:port`` (see :attr:`host_pattern`), the cluster (writer)
    endpoint at ``127.0.K.200:port`` and the reader endpoint at ``127.0.K.201:port``. Create one with
    :meth:`start`; :meth:`aclose` stops every process and deletes ``base_dir``.
    """

    __test__ = False

    def __init__(
        self,
        engine: Engine,
        instances: list[Instance],
        addresses: ClusterAddresses,
        *,
        base_dir: Path,
        dns_lag: float,
        catch_up_timeout: float = CATCH_UP_TIMEOUT,
    ) -> None:
        self._engine = engine
        self._instances = instances
        self._addresses = addresses
        self._base_dir = base_dir
        self._dns_lag = dns_lag
        self._catch_up_timeout = catch_up_timeout
        self._writer = instances[0]
        self._ep_writer = instances[0]
        self._ep_readers = list(instances[1:])
        self._round_robin = itertools.count()
        self._dns_timer: asyncio.TimerHandle | None = None
        self._proxies: dict[str, FaultProxy] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self._silence = SilenceWatch()
        self.blue_green: BlueGreenDeployment | None = None  # see create_blue_green()
        self._global: GlobalState | None = None  # a Global Database (see _global)

    # -- creation ------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        engine: EngineName = "postgres",
        instances: int = 3,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        base_port: int | None = None,
        loopback_k: int | None = None,
        dns_lag: float = 0.0,
        catch_up_timeout: float = CATCH_UP_TIMEOUT,
        bin_dir: str | os.PathLike[str] | None = None,
        aurora_ext: bool | None = None,
        timeout: float = 60.0,
        regions: Mapping[str, int] | None = None,
    ) -> _Starting:
        """Create and start a testbed; ``await`` the result or use it with ``async with``.

        ``engine``: ``"postgres"`` or ``"mariadb"``; ``instances``: 1 (a plain server) to 16.
        ``base_dir``: where data and logs go (created; deleted by :meth:`aclose`); a temp dir if None.
        ``base_port``: the proxies' port, with node ``N`` on ``base_port + N`` (default: free ports).
        ``loopback_k``: use ``127.0.K.0/24`` (default: the first free K in 100..250).
        ``dns_lag``: seconds the endpoints keep pointing at the old roles after a topology change.
        ``catch_up_timeout``: see :attr:`catch_up_timeout`.
        ``bin_dir``: server binaries (PostgreSQL: the ``bin`` dir with ``initdb``; MariaDB: the dir
        with ``mariadbd``). ``aurora_ext`` (PostgreSQL): build ``rds_emul.so`` (None: if possible,
        else fall back to a ``pg_settings`` shadow view; False: never; True: required).
        ``regions``: a Global Database, e.g. ``{"us-east-1": 3, "eu-west-1": 2}`` (replaces ``instances``;
        the first region is the primary; see ``_global``).
        """
        return _Starting(
            lambda: cls._create(
                engine,
                instances,
                base_dir,
                base_port=base_port,
                loopback_k=loopback_k,
                dns_lag=dns_lag,
                catch_up_timeout=catch_up_timeout,
                bin_dir=bin_dir,
                aurora_ext=aurora_ext,
                step_timeout=timeout,
                regions=regions,
            )
        )

    @classmethod
    async def _create(
        cls,
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
            base = cls._make_base_dir(engine_name, base_dir)
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
            _make_engine(engine_name, options),
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
            await testbed._settle()
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

    @staticmethod
    def _make_base_dir(engine: str, base_dir: str | os.PathLike[str] | None) -> Path:
        if base_dir is None:
            return Path(tempfile.mkdtemp(prefix=f"awsasyncwrap-tb-{engine}-"))
        base = Path(base_dir).absolute()
        if (base / "n1").exists():
            raise TestbedError(f"{base} already holds a testbed")
        base.mkdir(parents=True, exist_ok=True)
        return base

    def _start_proxies(self) -> None:
        sockets = self._addresses.sockets
        for inst in self._instances:
            self._proxies[inst.id] = FaultProxy(
                sockets.pop(inst.number), self._node_target(inst), name=f"instance-{inst.id}"
            )
        self._proxies["cluster"] = FaultProxy(sockets.pop(CLUSTER_HOST), self._cluster_target, name="cluster")
        self._proxies["reader"] = FaultProxy(sockets.pop(READER_HOST), self._reader_target, name="reader")
        self._start_global_proxies()

    @staticmethod
    def _node_target(inst: Instance) -> Callable[[], tuple[str, int]]:
        return lambda: ("127.0.0.1", inst.node_port)

    def _cluster_target(self) -> tuple[str, int]:
        return ("127.0.0.1", self._ep_writer.node_port)

    def _reader_target(self) -> tuple[str, int]:
        live = [inst for inst in self._ep_readers if inst.running]
        if not live:
            return self._cluster_target()
        return ("127.0.0.1", live[next(self._round_robin) % len(live)].node_port)

    # -- addressing ----------------------------------------------------------------------------

    @property
    def engine(self) -> EngineName:
        return self._engine.name

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def instances(self) -> list[Instance]:
        return list(self._instances)

    @property
    def writer(self) -> Instance:
        """The instance that holds (or, if it is down, last held) the writer role."""
        return self._writer

    @property
    def readers(self) -> list[Instance]:
        return [inst for inst in self._instances if inst is not self._writer]

    @property
    def port(self) -> int:
        """The port every proxy and endpoint listens on."""
        return self._addresses.port

    @property
    def host_pattern(self) -> str:
        """``127.0.K.?``: replace ``?`` with an instance id to get that instance's host."""
        return f"127.0.{self._addresses.k}.?"

    def wrapper_props(self) -> dict[str, str]:
        """What an app passes to ``AsyncAwsConnection.connect`` so that the wrapper treats this testbed as an
        Aurora cluster (a fresh dict).

        ``cluster_instance_host_pattern`` (:attr:`host_pattern`: instance id -> its proxy) and, on MariaDB,
        ``wrapper_dialect="aurora-mysql"`` with ``topology_query`` / ``host_id_query`` / ``is_reader_query``
        reading the emulation's ``aurora_emul`` schema. PostgreSQL needs nothing more: every node answers
        Aurora PostgreSQL's own queries.
        """
        props = {"cluster_instance_host_pattern": self.host_pattern, **self._engine.wrapper_props()}
        return self._with_global_props(props)  # a global testbed: global_cluster_instance_host_patterns

    @property
    def cluster_endpoint(self) -> tuple[str, int]:
        return (self._addresses.host(CLUSTER_HOST), self._addresses.port)

    @property
    def reader_endpoint(self) -> tuple[str, int]:
        return (self._addresses.host(READER_HOST), self._addresses.port)

    @property
    def dns_lag(self) -> float:
        """Seconds the endpoints keep the old roles after a topology change (settable)."""
        return self._dns_lag

    @dns_lag.setter
    def dns_lag(self, value: float) -> None:
        if value < 0:
            raise TestbedError(f"bad dns_lag {value!r}; must be >= 0")
        self._dns_lag = value

    @property
    def catch_up_timeout(self) -> float:
        """Seconds :meth:`failover` / :meth:`kill` of the writer wait for readers to get its last commits.

        Settable. Aurora loses no acknowledged commit; 0 emulates a crash that loses what the readers had
        not received yet (diverged readers are then rewound or rebuilt).
        """
        return self._catch_up_timeout

    @catch_up_timeout.setter
    def catch_up_timeout(self, value: float) -> None:
        if value < 0:
            raise TestbedError(f"bad catch_up_timeout {value!r}; must be >= 0")
        self._catch_up_timeout = value

    @property
    def user(self) -> str:
        return self._engine.user

    @property
    def password(self) -> str | None:
        return self._engine.password

    @property
    def database(self) -> str:
        return self._engine.database

    def instance(self, which: InstanceRef) -> Instance:
        """Look up an instance by object, number (1-based) or id."""
        if isinstance(which, Instance):
            if which in self._instances:
                return which
            raise TestbedError(f"{which!r} does not belong to this testbed")
        key = str(which).strip()
        for inst in self._instances:
            if inst.id == key:
                return inst
        valid = ", ".join(inst.id for inst in self._instances)
        raise TestbedError(f"bad instance {key!r}; valid: {valid}")

    def address_of(
        self, target: InstanceRef | tuple[str, int] | None = None, *, direct: bool = False
    ) -> tuple[str, int]:
        """(host, port) of an instance's proxy (or its server when ``direct``), or of an endpoint.

        ``target``: an instance reference, ``"cluster"`` / ``None`` (cluster endpoint), ``"reader"``
        (reader endpoint), ``"global"`` (global writer endpoint) or a literal (host, port).
        """
        if target is None or target == "cluster":
            return self.cluster_endpoint
        if target == "reader":
            return self.reader_endpoint
        if target == "global":
            return self.global_endpoint
        if isinstance(target, tuple):
            return target
        inst = self.instance(target)
        return ("127.0.0.1", inst.node_port) if direct else inst.address

    def dsn(
        self, target: InstanceRef | tuple[str, int] | None = None, *, direct: bool = False, **extra: object
    ) -> str:
        """A libpq conninfo string (PostgreSQL only) for ``target`` (see :meth:`address_of`)."""
        if self.engine != "postgres":
            raise TestbedError("dsn() is for postgres testbeds; use connect_kwargs() for mariadb")
        host, port = self.address_of(target, direct=direct)
        params: dict[str, object] = {"host": host, "port": port, "user": self.user, "dbname": self.database}
        params.update(extra)
        return " ".join(f"{key}={_conninfo_value(value)}" for key, value in params.items())

    def connect_kwargs(
        self, target: InstanceRef | tuple[str, int] | None = None, *, direct: bool = False, **extra: object
    ) -> dict[str, Any]:
        """Keyword arguments for the driver's connect: aiomysql (``db=``) or psycopg (``dbname=``)."""
        host, port = self.address_of(target, direct=direct)
        params: dict[str, Any] = {"host": host, "port": port, "user": self.user}
        if self.engine == "mariadb":
            params.update(password=self.password, db=self.database)
        else:
            params["dbname"] = self.database
        params.update(extra)
        return params

    # -- faults --------------------------------------------------------------------------------

    def _proxy_for(self, which: InstanceRef) -> FaultProxy:
        if which in _ENDPOINT_PROXIES and str(which) in self._proxies:
            return self._proxies[str(which)]
        return self._proxies[self.instance(which).id]

    def net(self, which: InstanceRef | Literal["all"], mode: str) -> None:
        """Set the fault mode of an instance's proxy (or ``"cluster"``, ``"reader"``, ``"all"``).

        Modes: ``pass``, ``blackhole``, ``refuse``, ``reset``, ``delay:MS`` (see ``_proxy``).
        """
        parse_mode(mode)
        proxies = list(self._proxies.values()) if which == "all" else [self._proxy_for(which)]
        for proxy in proxies:
            proxy.set_mode(mode)

    def net_endpoint(self, which: EndpointName, mode: str) -> None:
        """Set the fault mode of the ``"cluster"`` or ``"reader"`` endpoint proxy."""
        if which not in ("cluster", "reader"):
            raise TestbedError(f"bad endpoint {which!r}; valid: cluster, reader")
        self.net(which, mode)

    def net_mode(self, which: InstanceRef) -> str:
        return self._proxy_for(which).mode

    # -- node operations -----------------------------------------------------------------------

    async def kill(self, which: InstanceRef) -> None:
        """Crash an instance (its proxy stays up and resets new connections).

        Killing the writer loses no acknowledged commit: its proxies hold client traffic first (an
        acknowledgement they hold is never delivered: such a commit's outcome is unknown to the client),
        then the readers get its last commits, then it dies and the held connections are reset.
        """
        inst = self.instance(which)
        async with self._lock:
            await self._kill(inst)
            await self._publish()
            await self._settle()

    async def start_instance(self, which: InstanceRef) -> None:
        """Start a stopped instance in its role: a reader follows the current writer (rewound if needed)."""
        inst = self.instance(which)
        async with self._lock:
            await self._start(inst)
            await self._publish()
            await self._settle()

    async def rejoin(self, which: InstanceRef) -> None:
        """Make an instance (typically a dead ex-writer) a replica of the current writer."""
        inst = self.instance(which)
        async with self._lock:
            if inst is self._writer:
                raise TestbedError(f"instance {inst.id} is the writer; rejoin is for readers")
            if inst.running and not await self._follow(inst, self._writer, _FOLLOW):
                await self._engine.stop(inst)
                inst.running = False
            if not inst.running:
                await self._start(inst, force_rebuild=self._engine.needs_rebuild(inst))
            await self._publish()
            await self._settle()

    async def failover(self, to: InstanceRef | None = None, delay: float = 0.0) -> FailoverReport:
        """Crash the writer, promote ``to`` (default: the most advanced live reader), repoint the others.

        ``delay``: seconds between the crash and the promotion. No acknowledged commit is lost, as with
        Aurora's shared storage: client traffic to the writer is held at the proxies, the promotion target
        catches up with it (see :attr:`catch_up_timeout`), then the writer dies and the held connections
        are reset. The old writer stays down until :meth:`rejoin` / :meth:`start_instance` / :meth:`heal`.
        """
        async with self._lock:
            report = await self._failover(None if to is None else self.instance(to), delay)
            await self._settle()
            return report

    async def heal(self) -> None:
        """Restore a healthy cluster: all proxies pass, every node up and replicating from a live writer.

        Cheap when the cluster is healthy already. Bound it with ``anyio.fail_after`` if needed.
        """
        async with self._lock:
            await self._heal()
            await self._settle()

    async def topology_views(self) -> dict[str, tuple[frozenset[str], tuple[str, ...]] | None]:
        """What each running instance answers to the topology query now: id -> (instance ids, writer ids);
        None for one that does not answer."""
        return await self._views()

    async def settled(self) -> None:
        """Return once every running instance answers the same emulated topology.

        With the writer up: every running instance, and that writer. With it down: whatever the readers
        last received, once they all agree (at most a short grace). :meth:`kill`, :meth:`failover`,
        :meth:`rejoin`, :meth:`start_instance` and :meth:`heal` end with this wait already.
        """
        async with self._lock:
            await self._settle()

    async def wait_replicated(self) -> None:
        """Wait until every running reader has applied all the writer has committed so far.

        Waits as long as it takes: bound it with ``anyio.fail_after``.
        """
        writer = self._writer
        if not writer.running:
            raise TestbedError(f"writer {writer.id} is down")
        for inst in self.readers:
            if inst.running:
                await self._engine.catch_up(writer, inst)

    async def status(self) -> TestbedStatus:
        """Ask every node for its state."""
        by_port = {inst.node_port: inst for inst in self._instances}
        states = await asyncio.gather(
            *(self._engine.node_state(inst) for inst in self._instances if inst.running)
        )
        running = iter(states)
        items = []
        for inst in self._instances:
            state = next(running) if inst.running else None
            upstream = by_port.get(state.upstream_port) if state and state.upstream_port else None
            items.append(
                InstanceStatus(
                    id=inst.id,
                    role=inst.role,
                    running=inst.running,
                    reachable=bool(state and state.reachable),
                    writable=state.writable if state else None,
                    replicating_from=upstream.id if upstream else None,
                    replication=state.replication if state else "down",
                    proxy_mode=self._proxies[inst.id].mode,
                    node_port=inst.node_port,
                    address=inst.address,
                    region=self.region_of(inst) if self.is_global else None,
                )
            )
        return TestbedStatus(
            engine=self.engine,
            base_dir=str(self._base_dir),
            host_pattern=self.host_pattern,
            port=self.port,
            writer=self._writer.id,
            cluster_endpoint=self.cluster_endpoint,
            reader_endpoint=self.reader_endpoint,
            endpoint_writer=self._ep_writer.id,
            endpoint_readers=[inst.id for inst in self._ep_readers],
            endpoint_modes={n: p.mode for n, p in self._proxies.items() if n in _ENDPOINT_PROXIES},
            instances=items,
        )

    async def create_blue_green(self, **options: Any) -> BlueGreenDeployment:
        """Add a green cluster replicating from this one (see ``_bluegreen``); kept as :attr:`blue_green`."""
        from ._bluegreen import BlueGreenDeployment

        if self.blue_green is not None:
            raise TestbedError("this testbed has a blue/green deployment already")
        self.blue_green = await BlueGreenDeployment.create(self, **options)
        return self.blue_green

    async def aclose(self) -> None:
        """Stop proxies and servers and delete ``base_dir``. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self.blue_green is not None:
                await self.blue_green.aclose()
            if self._dns_timer is not None:
                self._dns_timer.cancel()
            self._close_global()
            await asyncio.gather(*(p.aclose() for p in self._proxies.values()), return_exceptions=True)
            self._addresses.close()
            try:
                await self._engine.stop_all(self._instances)
            finally:
                for inst in self._instances:
                    inst.running = False
                await remove_tree(self._base_dir)
        logger.debug("testbed %s closed", self._base_dir)

    async def __aenter__(self) -> Testbed:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Testbed {self.engine} {self.host_pattern}:{self.port} writer={self._writer.id}>"

    # -- internals (called with the lock held) --------------------------------------------------

    async def _kill(self, inst: Instance) -> None:
        if not inst.running:
            return
        if inst is not self._writer:
            await self._engine.kill(inst)
            inst.running = False
            logger.info("instance %s killed", inst.id)
            return
        self._fence(inst)
        try:
            await self._drain(inst, None)
            await self._engine.kill(inst)
            inst.running = False
            logger.info("instance %s (writer) killed", inst.id)
        finally:
            self._unfence(inst)

    def _fence(self, writer: Instance) -> None:
        """Hold all client traffic to ``writer`` at every proxy: nothing new is acknowledged."""
        for proxy in self._proxies.values():
            proxy.fence(("127.0.0.1", writer.node_port))

    def _unfence(self, writer: Instance) -> None:
        """Lift :meth:`_fence`: a dead writer's held connections are reset, held bytes discarded."""
        for proxy in self._proxies.values():
            proxy.unfence(("127.0.0.1", writer.node_port), drop=not writer.running)

    async def _drain(self, writer: Instance, must: Instance | None) -> bool:
        """Let the running readers get all that the (fenced) ``writer`` has committed.

        ``must`` (default: the most advanced reader) gets up to :attr:`catch_up_timeout`; the others
        only a short grace after it (one that lags simply follows the next writer later). True if
        ``must`` caught up.
        """
        live = [inst for inst in self.readers if inst.running]
        if not live or self._catch_up_timeout <= 0:
            if live:
                logger.info("writer %s stops without letting its readers catch up", writer.id)
            return False
        if must is None:
            try:
                must = await self._most_advanced(live)
            except TestbedError as exc:
                logger.info("cannot compare the readers of writer %s (%s)", writer.id, exc)
                must = live[0]
        # tasks owned by this call: all of them are done or cancelled and awaited when it returns
        tasks = {inst: asyncio.ensure_future(self._drain_into(writer, inst)) for inst in live}
        key = tasks[must]
        try:
            with anyio.move_on_after(self._catch_up_timeout):
                await asyncio.wait({key})
                rest = [task for task in tasks.values() if task is not key]
                if rest:
                    await asyncio.wait(rest, timeout=_GRACE)
        finally:
            for task in tasks.values():
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*tasks.values(), return_exceptions=True)
        for inst, task in tasks.items():
            if not _succeeded(task):
                level = logging.WARNING if inst is must else logging.INFO
                logger.log(level, "instance %s did not catch up with writer %s in time", inst.id, writer.id)
        return _succeeded(key)

    async def _drain_into(self, writer: Instance, replica: Instance) -> bool:
        """Make ``replica`` replicate from ``writer`` and apply all of it, until nothing new comes."""
        try:
            if not await self._engine.follow(replica, writer):
                return False
            while True:
                before = await self._engine.position(writer)
                await self._engine.catch_up(writer, replica)
                if await self._engine.position(writer) == before:
                    return True
        except TestbedError as exc:
            logger.info("instance %s cannot catch up with writer %s: %s", replica.id, writer.id, exc)
            return False

    async def _most_advanced(self, candidates: list[Instance]) -> Instance:
        positions = await asyncio.gather(*(self._engine.position(inst) for inst in candidates))
        return max(zip(positions, candidates, strict=True), key=lambda pc: (pc[0], -pc[1].number))[1]

    async def _follow(self, inst: Instance, writer: Instance, limit: float) -> bool:
        with anyio.move_on_after(limit):
            return await self._engine.follow(inst, writer)
        logger.info("instance %s does not replicate from %s after %g s", inst.id, writer.id, limit)
        return False

    async def _start(self, inst: Instance, *, force_rebuild: bool = False) -> None:
        if inst.running:
            return
        writer = self._writer
        if inst is writer:
            await self._engine.start(inst, writer=True)
            inst.running = True
            logger.info("instance %s (writer) started", inst.id)
            return
        rebuilt = force_rebuild or self._engine.needs_rebuild(inst)
        if rebuilt:
            if not writer.running:
                raise TestbedError(
                    f"instance {inst.id} must be rebuilt from writer {writer.id}, which is down; "
                    "start the writer or fail over first"
                )
            await self._engine.rebuild(inst, writer)
        await self._engine.start(inst, writer=False)
        inst.running = True
        if writer.running and not rebuilt and not await self._follow(inst, writer, _FOLLOW):
            logger.info("instance %s cannot follow writer %s; rebuilding it", inst.id, writer.id)
            await self._engine.stop(inst)
            inst.running = False
            await self._engine.rebuild(inst, writer)
            await self._engine.start(inst, writer=False)
            inst.running = True
            rebuilt = True
        # a rebuilt node may have a long history to replay: give it the full step timeout
        if writer.running and rebuilt and not await self._follow(inst, writer, self._engine.options.timeout):
            raise TestbedError(f"instance {inst.id} does not replicate from {writer.id}; see {inst.log_file}")
        logger.info("instance %s started as a reader of %s", inst.id, writer.id)

    async def _failover(self, target: Instance | None, delay: float, strict: bool = False) -> FailoverReport:
        """``strict``: raise (the writer unchanged) unless ``target`` gets all the writer committed."""
        t0 = time.perf_counter()
        old = self._writer
        live = self._failover_candidates([inst for inst in self.readers if inst.running])
        if target is not None:
            if target is old:
                raise TestbedError(f"instance {target.id} is already the writer")
            if not target.running:
                raise TestbedError(f"instance {target.id} is down; cannot promote it")
        elif not live:
            raise TestbedError("no running reader to promote")
        fenced = old.running
        if fenced:
            self._fence(old)
        try:
            new = target or await self._most_advanced(live)
            t_catch_up = time.perf_counter()
            if old.running and not await self._drain(old, new) and strict:
                raise TestbedError(f"instance {new.id} did not catch up with writer {old.id}; no change")
            catch_up = time.perf_counter() - t_catch_up
            t_kill = time.perf_counter()
            if old.running:
                await self._engine.kill(old)
                old.running = False
            kill = time.perf_counter() - t_kill
        finally:
            if fenced:
                self._unfence(old)
        if delay > 0:
            await asyncio.sleep(delay)
        t_promote = time.perf_counter()
        await self._engine.promote(new)
        promote = time.perf_counter() - t_promote
        t_writable = time.perf_counter()
        try:
            with anyio.fail_after(self._engine.options.timeout):
                await self._engine.wait_writable(new)
        except TimeoutError:
            raise TestbedError(f"instance {new.id} did not become writable; see {new.log_file}") from None
        writable = time.perf_counter() - t_writable
        old.role, new.role = "reader", "writer"
        self._writer = new
        self._schedule_endpoints()
        t_repoint = time.perf_counter()
        others = [inst for inst in self.readers if inst.running]
        followed = await asyncio.gather(*(self._follow(inst, new, _FOLLOW) for inst in others))
        for inst, ok in zip(others, followed, strict=True):
            if not ok:  # it had replayed more than the new writer got: rebuild it
                logger.info("instance %s cannot follow instance %s; rebuilding it", inst.id, new.id)
                await self._engine.stop(inst)
                inst.running = False
                await self._start(inst, force_rebuild=True)
        repoint = time.perf_counter() - t_repoint
        await self._publish()
        report = FailoverReport(
            old_writer=old.id,
            new_writer=new.id,
            kill=kill,
            promote=promote,
            writable=writable,
            repoint=repoint,
            total=time.perf_counter() - t0,
            catch_up=catch_up,
        )
        logger.info("failover %s -> %s in %.3f s", old.id, new.id, report.total)
        return report

    async def _heal(self) -> None:
        self.net("all", "pass")
        self._apply_endpoints()
        changed = False
        if not self._writer.running:
            changed = True
            if any(inst.running for inst in self.readers):
                await self._failover(None, 0.0)
            else:
                await self._start(self._writer)
        writer = self._writer
        for inst in self.readers:
            if not inst.running:
                await self._start(inst)
                changed = True
            elif not await self._follow(inst, writer, _FOLLOW):
                await self._engine.stop(inst)
                inst.running = False
                await self._start(inst, force_rebuild=True)
                changed = True
        if changed:
            await self._publish()
        self._apply_endpoints()

    async def _publish(self) -> None:
        if self._writer.running:
            await self._engine.publish_topology(self._writer, self._instances)

    async def _views(self) -> dict[str, tuple[frozenset[str], tuple[str, ...]] | None]:
        running = [inst for inst in self._instances if inst.running]

        async def view(inst: Instance) -> tuple[frozenset[str], tuple[str, ...]] | None:
            try:
                seen = await self._engine.topology_view(inst)
            except TestbedError as exc:
                self._silence.silent(inst, exc, self._engine.server_pid(inst))
                return None  # not answering yet (e.g. restarting): not settled
            self._silence.answered(inst)
            return seen

        return dict(zip((i.id for i in running), await asyncio.gather(*map(view, running)), strict=True))

    async def _settle(self) -> None:
        """See :meth:`settled` (called with the lock held)."""
        writer = self._writer
        expected = (frozenset(i.id for i in self._instances if i.running), (writer.id,))
        views: dict[str, tuple[frozenset[str], tuple[str, ...]] | None] = {}

        async def agreed() -> bool:
            nonlocal views
            views = await self._views()
            if writer.running:
                return all(v == expected for v in views.values())
            return None not in views.values() and len(set(views.values())) <= 1

        limit = self._engine.options.timeout if writer.running else _FOLLOW
        with anyio.move_on_after(limit):
            # each look opens a connection to every running instance: back off while they disagree (a
            # fixed 10 ms poll opened ~300 connections a second to a MariaDB node through a long settle,
            # and under a chaos soak a node then stopped answering new connections' handshakes)
            await until(agreed, interval=_SETTLE_POLL, most=_SETTLE_POLL_MAX)
            return
        shown = {k: None if v is None else (sorted(v[0]), list(v[1])) for k, v in views.items()}
        if writer.running:
            raise TestbedError(f"instances disagree on the topology after {limit:g} s: {shown}")
        logger.info("writer %s is down and its readers still disagree on the topology: %s", writer.id, shown)

    def _schedule_endpoints(self) -> None:
        if self._dns_timer is not None:
            self._dns_timer.cancel()
            self._dns_timer = None
        if self._dns_lag > 0:
            self._dns_timer = asyncio.get_running_loop().call_later(self._dns_lag, self._apply_endpoints)
        else:
            self._apply_endpoints()

    def _apply_endpoints(self) -> None:
        if self._dns_timer is not None:
            self._dns_timer.cancel()
            self._dns_timer = None
        self._ep_writer = self._writer
        self._ep_readers = self.readers
