"""The :class:`Testbed`: the public face of an emulated cluster (addressing, faults, operations).

The work is done by one-job modules: ``_create`` (creation), ``_endpoints`` (endpoint routing and DNS
lag), ``_roles`` (kill / start / failover / heal, with fencing and draining), ``_settle`` (topology
publication and agreement) and ``_status`` (status reporting).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio

from . import _roles, _settle, _status
from ._create import CATCH_UP_TIMEOUT, ENGINES, MAX_INSTANCES, Starting, create
from ._endpoints import ENDPOINT_PROXIES, Endpoints, make_proxies
from ._engine import Engine
from ._errors import TestbedError
from ._global import GlobalMixin, GlobalState
from ._model import EngineName, FailoverReport, Instance, TestbedStatus
from ._ports import CLUSTER_HOST, READER_HOST, ClusterAddresses, release_ports
from ._proc import remove_tree
from ._proxy import FaultProxy, parse_mode
from ._silence import SilenceWatch

if TYPE_CHECKING:
    from ._bluegreen import BlueGreenDeployment

__all__ = ["CATCH_UP_TIMEOUT", "ENGINES", "MAX_INSTANCES", "InstanceRef", "Testbed"]

logger = logging.getLogger(__name__)

InstanceRef = Instance | int | str
EndpointName = Literal["cluster", "reader"]


def _conninfo_value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in " '\\\t\n"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
        self._catch_up_timeout = catch_up_timeout
        self._writer = instances[0]
        self._endpoints = Endpoints(lambda: (self._writer, self.readers), dns_lag)
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
    ) -> Starting:
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
        return Starting(
            lambda: create(
                cls,
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

    def _start_proxies(self) -> None:
        self._proxies.update(make_proxies(self._addresses, self._instances, self._endpoints))
        self._start_global_proxies()

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
        return self._endpoints.lag

    @dns_lag.setter
    def dns_lag(self, value: float) -> None:
        if value < 0:
            raise TestbedError(f"bad dns_lag {value!r}; must be >= 0")
        self._endpoints.lag = value

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
        if which in ENDPOINT_PROXIES and str(which) in self._proxies:
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
            await _roles.kill(self, inst)
            await _settle.publish(self)
            await _settle.settle(self)

    async def start_instance(self, which: InstanceRef) -> None:
        """Start a stopped instance in its role: a reader follows the current writer (rewound if needed)."""
        inst = self.instance(which)
        async with self._lock:
            await _roles.start(self, inst)
            await _settle.publish(self)
            await _settle.settle(self)

    async def rejoin(self, which: InstanceRef) -> None:
        """Make an instance (typically a dead ex-writer) a replica of the current writer."""
        inst = self.instance(which)
        async with self._lock:
            if inst is self._writer:
                raise TestbedError(f"instance {inst.id} is the writer; rejoin is for readers")
            if inst.running and not await _roles.follow(self, inst, self._writer, _settle.FOLLOW):
                await self._engine.stop(inst)
                inst.running = False
            if not inst.running:
                await _roles.start(self, inst, force_rebuild=self._engine.needs_rebuild(inst))
            await _settle.publish(self)
            await _settle.settle(self)

    async def failover(self, to: InstanceRef | None = None, delay: float = 0.0) -> FailoverReport:
        """Crash the writer, promote ``to`` (default: the most advanced live reader), repoint the others.

        ``delay``: seconds between the crash and the promotion. No acknowledged commit is lost, as with
        Aurora's shared storage: client traffic to the writer is held at the proxies, the promotion target
        catches up with it (see :attr:`catch_up_timeout`), then the writer dies and the held connections
        are reset. The old writer stays down until :meth:`rejoin` / :meth:`start_instance` / :meth:`heal`.
        """
        async with self._lock:
            report = await _roles.failover(self, None if to is None else self.instance(to), delay)
            await _settle.settle(self)
            return report

    async def heal(self) -> None:
        """Restore a healthy cluster: all proxies pass, every node up and replicating from a live writer.

        Cheap when the cluster is healthy already. Bound it with ``anyio.fail_after`` if needed.
        """
        async with self._lock:
            await _roles.heal(self)
            await _settle.settle(self)

    async def topology_views(self) -> dict[str, tuple[frozenset[str], tuple[str, ...]] | None]:
        """What each running instance answers to the topology query now: id -> (instance ids, writer ids);
        None for one that does not answer."""
        return await _settle.views(self)

    async def settled(self) -> None:
        """Return once every running instance answers the same emulated topology.

        With the writer up: every running instance, and that writer. With it down: whatever the readers
        last received, once they all agree (at most a short grace). :meth:`kill`, :meth:`failover`,
        :meth:`rejoin`, :meth:`start_instance` and :meth:`heal` end with this wait already.
        """
        async with self._lock:
            await _settle.settle(self)

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
        return await _status.status(self)

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
            self._endpoints.cancel()
            self._close_global()
            await asyncio.gather(*(p.aclose() for p in self._proxies.values()), return_exceptions=True)
            self._addresses.close()
            try:
                await self._engine.stop_all(self._instances)
            finally:
                for inst in self._instances:
                    inst.running = False
                release_ports(inst.node_port for inst in self._instances)
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
