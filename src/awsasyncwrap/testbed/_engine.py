"""What the cluster logic needs from a database engine (PostgreSQL, MariaDB)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

from ._model import EngineName, Instance

__all__ = ["Engine", "EngineOptions", "NodeState"]


@dataclass(frozen=True)
class EngineOptions:
    """Engine settings taken from :meth:`Testbed.start`."""

    base_dir: Path
    proxy_port: int
    host_of: dict[str, str]  # instance id -> proxy host (127.0.K.N)
    bin_dir: Path | None = None
    aurora_ext: bool | None = None  # PostgreSQL: None = build rds_emul.so if possible
    timeout: float = 60.0


@dataclass(frozen=True)
class NodeState:
    """What a running node says about itself."""

    reachable: bool
    writable: bool | None = None
    upstream_port: int | None = None  # the server port it replicates from, when replicating
    replication: str = "-"


class Engine(abc.ABC):
    """Server-level operations; the cluster logic in ``_cluster`` decides when to call them.

    Every method taking an :class:`Instance` leaves ``Instance.running`` alone: the caller owns it.
    Methods that wait (``catch_up``, ``wait_writable``, ``follow``) wait without a limit of their own:
    the caller bounds them with a cancel scope. Steps with a natural limit (server start, promotion)
    use ``options.timeout``.
    """

    name: EngineName
    user: str
    password: str | None
    database: str

    def __init__(self, options: EngineOptions) -> None:
        self.options = options

    def wrapper_props(self) -> dict[str, str]:
        """Wrapper properties the emulation needs besides the host pattern (none: the server answers
        Aurora's own queries)."""
        return {}

    @abc.abstractmethod
    async def prepare(self) -> None:
        """Find binaries, the OS user and optional modules; no server runs yet."""

    @abc.abstractmethod
    async def bootstrap(self, instances: list[Instance]) -> None:
        """Create and start every node: the first is the writer, the others replicate from it."""

    @abc.abstractmethod
    async def start(self, inst: Instance, *, writer: bool) -> None:
        """Start a stopped node's server (a reader comes up read-only)."""

    def server_pid(self, inst: Instance) -> int | None:
        """The pid of the node's server process, when known (for diagnostics)."""
        return None

    @abc.abstractmethod
    async def kill(self, inst: Instance) -> None:
        """Stop a node abruptly, as a crash would."""

    async def stop(self, inst: Instance) -> None:
        """Stop a node before its data is rebuilt (cleanly, where that makes the rebuild faster)."""
        await self.kill(inst)

    @abc.abstractmethod
    async def stop_all(self, instances: list[Instance]) -> None:
        """Stop every server fast (data is thrown away afterwards)."""

    @abc.abstractmethod
    async def position(self, inst: Instance) -> int:
        """How much of the writer's log a node holds (larger = more advanced)."""

    @abc.abstractmethod
    async def catch_up(self, writer: Instance, replica: Instance) -> None:
        """Wait until ``replica`` has applied everything ``writer`` has committed so far."""

    @abc.abstractmethod
    async def promote(self, inst: Instance) -> None:
        """Turn a replica into a writer (its upstream is gone)."""

    @abc.abstractmethod
    async def wait_writable(self, inst: Instance) -> None:
        """Return once ``inst`` accepts writes."""

    @abc.abstractmethod
    async def follow(self, inst: Instance, writer: Instance) -> bool:
        """Make a running replica replicate from ``writer``: True once it does, False if it cannot."""

    @abc.abstractmethod
    def needs_rebuild(self, inst: Instance) -> bool:
        """True if a stopped node cannot simply be started as a replica (e.g. an ex-writer)."""

    @abc.abstractmethod
    async def rebuild(self, inst: Instance, writer: Instance) -> None:
        """Make a stopped node's data a replica of ``writer`` (rewind or fresh copy)."""

    @abc.abstractmethod
    async def publish_topology(self, writer: Instance, instances: list[Instance]) -> None:
        """Record the current topology where every node's topology query reads it."""

    @abc.abstractmethod
    async def topology_view(self, inst: Instance) -> tuple[frozenset[str], tuple[str, ...]]:
        """What ``inst`` answers to the wrapper's topology query: (instance ids, writer ids)."""

    @abc.abstractmethod
    async def node_state(self, inst: Instance) -> NodeState:
        """Ask a running node for its role and replication state."""
