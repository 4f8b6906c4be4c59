"""Plain data the testbed hands out: instances, failover timings, status."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["EngineName", "FailoverReport", "Instance", "InstanceStatus", "Role", "TestbedStatus"]

EngineName = Literal["postgres", "mariadb"]
Role = Literal["writer", "reader"]


@dataclass(eq=False)
class Instance:
    """One database node of a testbed.

    ``id`` is what the server reports as its instance id (``aurora_db_instance_identifier()``, MariaDB
    ``SERVER_ID``); ``address`` is its fault proxy (``127.0.K.<id>``, cluster port); ``node_port`` is
    the real server on 127.0.0.1. The testbed updates ``role`` and ``running`` in place.
    """

    id: str
    node_port: int
    address: tuple[str, int]
    role: Role
    data_dir: Path
    log_file: Path
    running: bool = False

    @property
    def number(self) -> int:
        """The instance number (1-based), the integer form of ``id``."""
        return int(self.id)

    def __repr__(self) -> str:
        state = "up" if self.running else "down"
        host, port = self.address
        return f"<Instance {self.id} {self.role} {state} {host}:{port} node_port={self.node_port}>"


@dataclass(frozen=True)
class FailoverReport:
    """Timings (seconds) of one :meth:`Testbed.failover`.

    ``catch_up``: the promotion target getting the fenced writer's last commits; ``kill``: stopping
    the old writer; ``promote`` + ``writable``: the new writer accepting writes; ``repoint``: the
    other readers following it; ``total`` includes a ``delay``.
    """

    old_writer: str
    new_writer: str
    kill: float
    promote: float
    writable: float
    repoint: float
    total: float
    catch_up: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class InstanceStatus:
    """What one node reports, as seen by :meth:`Testbed.status`."""

    id: str
    role: Role
    running: bool
    reachable: bool
    writable: bool | None
    replicating_from: str | None
    replication: str
    proxy_mode: str
    node_port: int
    address: tuple[str, int]
    region: str | None = None  # a Global Database testbed's region of the instance


@dataclass(frozen=True)
class TestbedStatus:
    """A snapshot of a whole testbed."""

    __test__ = False

    engine: EngineName
    base_dir: str
    host_pattern: str
    port: int
    writer: str
    cluster_endpoint: tuple[str, int]
    reader_endpoint: tuple[str, int]
    endpoint_writer: str
    endpoint_readers: list[str]
    endpoint_modes: dict[str, str]
    instances: list[InstanceStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Every node up, the writer writable, every reader replicating from the writer, all proxies pass."""
        if any(mode != "pass" for mode in self.endpoint_modes.values()):
            return False
        for inst in self.instances:
            if not (inst.running and inst.reachable and inst.proxy_mode == "pass"):
                return False
            if inst.role == "writer" and not inst.writable:
                return False
            if inst.role == "reader" and (inst.writable or inst.replicating_from != self.writer):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["healthy"] = self.healthy
        return data
