"""Aurora custom endpoints on a testbed: a host name and a proxy that spreads connections over members.

The name (``<id>.cluster-custom-<cluster>.<region>.rds.amazonaws.com``, as RDS names them) resolves in
this process to the endpoint's own loopback address (see ``_resolver``); the proxy there sends each new
connection to the next running member, round robin. :meth:`CustomEndpoint.modify` changes the members
at once for new connections, as RDS does after ``ModifyDBClusterEndpoint``. The RDS API side (what the
``custom_endpoint`` plugin reads) is the caller's: the tests keep a moto server in step.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from ._cluster import InstanceRef, Testbed
from ._errors import TestbedError
from ._model import Instance
from ._ports import _listener
from ._proxy import FaultProxy
from ._resolver import NameTable, write_hosts_file

__all__ = ["CustomEndpoint"]

_FIRST_OCTET = 210  # 127.0.K.210 and up: custom endpoints (200, 201: cluster and reader endpoints)


class CustomEndpoint:
    """One custom endpoint of a :class:`Testbed` (create with :meth:`create`, stop with :meth:`aclose`)."""

    def __init__(self, tb: Testbed, host: str, proxy: FaultProxy, table: NameTable) -> None:
        self.testbed = tb
        self.host = host
        self._proxy = proxy
        self._table = table
        self._members: list[Instance] = []
        self._turn = itertools.count()

    @classmethod
    async def create(
        cls,
        tb: Testbed,
        endpoint_id: str,
        members: Iterable[InstanceRef],
        *,
        cluster: str = "mydb",
        region: str = "us-east-1",
        number: int = 0,
    ) -> CustomEndpoint:
        """A custom endpoint ``endpoint_id`` of ``tb`` whose members are ``members``; ``number`` (0..39)
        picks its loopback address when a testbed has several."""
        if not 0 <= number < 40:
            raise TestbedError(f"bad custom endpoint number {number!r}; valid: 0..39")
        k = tb.cluster_endpoint[0].split(".")[2]
        sock = _listener(f"127.0.{k}.{_FIRST_OCTET + number}", tb.port)
        zone = f"cluster-custom-{cluster}.{region}.rds.amazonaws.com"
        host = f"{endpoint_id}.{zone}"
        table = NameTable((zone,))
        endpoint = cls(tb, host, None, table)  # type: ignore[arg-type]  # the proxy needs its target
        endpoint._proxy = FaultProxy(sock, endpoint._target, name=f"custom-{endpoint_id}")
        endpoint.modify(members)
        await endpoint._proxy.start()
        table.set({host: sock.getsockname()[0]})
        table.install()
        return endpoint

    @property
    def address(self) -> tuple[str, int]:
        return self._proxy.address

    @property
    def members(self) -> list[str]:
        """The member instance ids."""
        return [inst.id for inst in self._members]

    def modify(self, members: Iterable[InstanceRef]) -> None:
        """New connections go to these instances from now on (live ones stay where they are)."""
        chosen = [self.testbed.instance(m) for m in members]
        if not chosen:
            raise TestbedError("a custom endpoint needs at least one member")
        self._members = chosen

    def _target(self) -> tuple[str, int] | None:
        live = [inst for inst in self._members if inst.running]
        if not live:
            return None
        return ("127.0.0.1", live[next(self._turn) % len(live)].node_port)

    async def aclose(self) -> None:
        """Forget the name and stop the proxy."""
        self._table.uninstall()
        await self._proxy.aclose()


async def daemon_command(tb: Testbed, endpoints: dict[str, CustomEndpoint], req: dict[str, Any]) -> list[str]:
    """The CLI's ``endpoint`` command, run by the daemon (``endpoints``: the daemon's, by name)."""
    action, name = req.get("action"), str(req.get("name") or "")
    members = [m.strip() for m in str(req.get("members") or "").split(",") if m.strip()]
    found = endpoints.get(name)
    if action == "create":
        if found is not None:
            raise TestbedError(f"custom endpoint {name!r} exists; use `endpoint modify`")
        if not members:
            raise TestbedError("endpoint create needs --members (instance numbers, e.g. 2,3)")
        endpoints[name] = found = await CustomEndpoint.create(tb, name, members, number=len(endpoints))
    elif found is None:
        raise TestbedError(f"no custom endpoint {name!r}; known: {', '.join(sorted(endpoints)) or 'none'}")
    elif action == "modify":
        found.modify(members)
    elif action == "delete":
        await endpoints.pop(name).aclose()
    else:
        raise TestbedError(f"bad endpoint action {action!r}; valid: create, modify, delete")
    hosts = tb.base_dir / "hosts-endpoints"
    zones = tuple(z for e in endpoints.values() for z in e._table.zones)
    write_hosts_file(hosts, zones, {e.host: e.address[0] for e in endpoints.values()})
    lines = [f"  {e.host} -> members {','.join(e.members)} at {e.address[0]}" for e in endpoints.values()]
    return [*lines, f"resolve the names in your process: awsasyncwrap.testbed.use_hosts_file({str(hosts)!r})"]
