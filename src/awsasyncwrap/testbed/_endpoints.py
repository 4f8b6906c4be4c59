"""Endpoint routing: the cluster and reader endpoints follow the roles, ``dns_lag`` seconds late."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from ._model import Instance
from ._ports import CLUSTER_HOST, READER_HOST, ClusterAddresses
from ._proxy import FaultProxy

__all__ = ["ENDPOINT_PROXIES", "Endpoints", "make_proxies"]

ENDPOINT_PROXIES = ("cluster", "reader", "global")  # endpoint proxies whose mode status() reports

Roles = Callable[[], tuple[Instance, list[Instance]]]


class Endpoints:
    """Where the endpoints route: the roles as of the last (possibly lagging) "DNS" update.

    ``roles`` returns the current (writer, readers); :meth:`schedule` copies them after ``lag`` seconds,
    :meth:`apply` at once.
    """

    def __init__(self, roles: Roles, lag: float) -> None:
        self._roles = roles
        self.writer, self.readers = roles()
        self.lag = lag
        self._round_robin = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def cluster_target(self) -> tuple[str, int]:
        return ("127.0.0.1", self.writer.node_port)

    def reader_target(self) -> tuple[str, int]:
        live = [inst for inst in self.readers if inst.running]
        if not live:
            return self.cluster_target()
        return ("127.0.0.1", live[next(self._round_robin) % len(live)].node_port)

    def schedule(self) -> None:
        """After a role change: follow it after :attr:`lag` seconds (at once if 0)."""
        self.cancel()
        if self.lag > 0:
            self._timer = asyncio.get_running_loop().call_later(self.lag, self.apply)
        else:
            self.apply()

    def apply(self) -> None:
        """Follow the current roles now (a pending :meth:`schedule` is dropped)."""
        self.cancel()
        self.writer, self.readers = self._roles()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def make_proxies(
    addresses: ClusterAddresses, instances: list[Instance], endpoints: Endpoints
) -> dict[str, FaultProxy]:
    """One proxy per instance (by id) and the ``cluster`` / ``reader`` endpoint proxies (not started)."""
    sockets = addresses.sockets
    proxies: dict[str, FaultProxy] = {}
    for inst in instances:
        proxies[inst.id] = FaultProxy(
            sockets.pop(inst.number), _node_target(inst), name=f"instance-{inst.id}"
        )
    proxies["cluster"] = FaultProxy(sockets.pop(CLUSTER_HOST), endpoints.cluster_target, name="cluster")
    proxies["reader"] = FaultProxy(sockets.pop(READER_HOST), endpoints.reader_target, name="reader")
    return proxies


def _node_target(inst: Instance) -> Callable[[], tuple[str, int]]:
    return lambda: ("127.0.0.1", inst.node_port)
