"""Loopback addresses and ports: one free ``127.0.K.0/24`` plus one port per cluster.

The proxies' listening sockets are bound here and handed over already bound, so no other process can
take an address between the check and the use. A server binds its own node port, later: each node port
is reserved (an exclusive lock on a file named after it, held until :func:`release_ports`) so that two
testbeds, in this process or another, never pick the same one in the meantime.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._errors import TestbedError

__all__ = [
    "CLUSTER_HOST",
    "READER_HOST",
    "ClusterAddresses",
    "check_port_free",
    "claim_cluster_addresses",
    "free_port",
    "release_ports",
]

logger = logging.getLogger(__name__)

CLUSTER_HOST = 200  # last octet of the cluster (writer) endpoint
READER_HOST = 201  # last octet of the reader endpoint
_K_RANGE = range(100, 251)
_NODE_PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range, so outgoing connections do not collide


@dataclass
class ClusterAddresses:
    """The claimed ``127.0.K.0/24``, the shared port and a bound listening socket per last octet."""

    k: int
    port: int
    sockets: dict[int, socket.socket]

    def host(self, last_octet: int) -> str:
        return f"127.0.{self.k}.{last_octet}"

    def close(self) -> None:
        """Close sockets not handed over yet."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _try_claim(k: int, port: int, octets: list[int]) -> ClusterAddresses | None:
    """Bind every ``127.0.k.<octet>:port`` (port 0: take the first socket's port), or nothing."""
    bound: dict[int, socket.socket] = {}
    try:
        for octet in octets:
            sock = _listener(f"127.0.{k}.{octet}", port)
            bound[octet] = sock
            if port == 0:
                port = sock.getsockname()[1]
    except OSError:
        for sock in bound.values():
            sock.close()
        return None
    return ClusterAddresses(k, port, bound)


def claim_cluster_addresses(
    instance_numbers: Iterable[int], *, port: int | None = None, k: int | None = None
) -> ClusterAddresses:
    """Bind the proxies' sockets: one per instance plus the two endpoints, all on one port.

    Scans K over 100..250 (or uses ``k``) and takes the first K where every address is free on the
    port (``port`` or a free one picked on the first address).
    """
    octets = [*instance_numbers, CLUSTER_HOST, READER_HOST]
    candidates = [k] if k is not None else list(_K_RANGE)
    for cand in candidates:
        for _attempt in range(3 if port is None else 1):
            claimed = _try_claim(cand, port or 0, octets)
            if claimed is not None:
                logger.debug("claimed 127.0.%d.0/24 port %d", claimed.k, claimed.port)
                return claimed
    where = f"127.0.{k}.0/24" if k is not None else "127.0.100-250.0/24"
    raise TestbedError(f"no free loopback addresses in {where} on port {port or '(any)'}")


def _port_free(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_RESERVATIONS = Path(tempfile.gettempdir()) / "awsasyncwrap-ports"
_reserved: dict[int, int] = {}  # node port -> the open file whose lock reserves it


def _reserve(port: int) -> bool:
    """Reserve ``port`` for this process (False: another testbed has it)."""
    if port in _reserved:
        return False
    _RESERVATIONS.mkdir(exist_ok=True)
    fd = os.open(_RESERVATIONS / str(port), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _reserved[port] = fd
    return True


def release_ports(ports: Iterable[int]) -> None:
    """Give back node ports from :func:`free_port` (their servers stopped); unknown ports are ignored."""
    for port in ports:
        fd = _reserved.pop(port, None)
        if fd is not None:
            os.close(fd)  # ends the lock


def free_port(host: str = "127.0.0.1", *, avoid: Iterable[int] = ()) -> int:
    """A port nothing is bound to on ``host`` right now, reserved until :func:`release_ports` (a server will
    bind it shortly after; no other testbed picks it meanwhile)."""
    skip = set(avoid)
    low, high = _NODE_PORT_RANGE
    for _ in range(200):
        port = random.randrange(low, high)
        if port in skip or not _reserve(port):
            continue
        if _port_free(host, port):
            return port
        release_ports([port])
    raise TestbedError(f"no free port in {low}-{high} on {host} after 200 tries")


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise :class:`TestbedError` if ``host:port`` is taken."""
    if not _port_free(host, port):
        raise TestbedError(f"port {port} on {host} is already in use")
