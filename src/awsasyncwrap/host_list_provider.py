"""Where the list of hosts comes from: :class:`HostListProvider` and the static provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .hostinfo import HostInfo, HostRole
from .properties import Properties, WrapperProperties

if TYPE_CHECKING:
    from .dialects import DatabaseDialect
    from .drivers import DriverDialect

__all__ = ["HostListProvider", "HostListProviderService", "StaticHostListProvider"]


class HostListProviderService(Protocol):
    """What a host list provider may use of the plugin service."""

    @property
    def host_list_provider(self) -> HostListProvider: ...

    @host_list_provider.setter
    def host_list_provider(self, provider: HostListProvider) -> None: ...

    @property
    def initial_connection_host_info(self) -> HostInfo: ...

    @property
    def current_connection(self) -> Any: ...

    @property
    def database_dialect(self) -> DatabaseDialect: ...

    @property
    def driver_dialect(self) -> DriverDialect: ...

    @property
    def props(self) -> Properties: ...

    def is_static_host_list_provider(self) -> bool: ...


class HostListProvider(Protocol):
    """Supplies the cluster's hosts and tells which host a connection is on."""

    async def refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        """The hosts, from cache when fresh enough."""
        ...

    async def force_refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        """The hosts, read anew."""
        ...

    async def get_host_role(self, connection: Any) -> HostRole:
        """Whether ``connection`` is on a writer or a reader."""
        ...

    async def identify_connection(self, connection: Any) -> HostInfo | None:
        """The host ``connection`` is on, if it can be told."""
        ...

    def get_cluster_id(self) -> str:
        """An id shared by every connection to the same cluster."""
        ...

    async def release(self) -> None:
        """The connection using this provider closed."""
        ...


class StaticHostListProvider:
    """The hosts named in the connection properties; no topology."""

    def __init__(self, service: HostListProviderService, props: Properties) -> None:
        self._service = service
        # what the hosts are made of, read now; they are made at first use (a connection whose dialect
        # turns out to know a topology replaces this provider before it is asked anything)
        self._given = (
            WrapperProperties.HOST.get(props),
            props.get("port"),
            WrapperProperties.CLUSTER_ID.get(props),
            service.database_dialect.default_port,
        )
        self._made: tuple[tuple[HostInfo, ...], str] | None = None

    def _make(self) -> tuple[tuple[HostInfo, ...], str]:
        made = self._made
        if made is None:
            host, port, cluster_id, default_port = self._given
            hosts = [h.strip() for h in str(host or "localhost").split(",") if h.strip()]
            ports = [p.strip() for p in str(port).split(",")] if port is not None else []
            infos = []
            for i, name in enumerate(hosts):
                p = ports[i] if i < len(ports) else (ports[0] if len(ports) == 1 else "")
                infos.append(
                    HostInfo(
                        name, int(p) if p else default_port, HostRole.WRITER if i == 0 else HostRole.UNKNOWN
                    )
                )
            made = self._made = (tuple(infos), cluster_id or ",".join(h.url for h in infos))
        return made

    @property
    def _hosts(self) -> tuple[HostInfo, ...]:
        return self._make()[0]

    @property
    def _cluster_id(self) -> str:
        return self._make()[1]

    async def refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        return self._hosts

    async def force_refresh(self, connection: Any | None = None) -> tuple[HostInfo, ...]:
        return self._hosts

    async def get_host_role(self, connection: Any) -> HostRole:
        service = self._service
        return await service.database_dialect.get_host_role(connection, service.driver_dialect, service.props)

    async def identify_connection(self, connection: Any) -> HostInfo | None:
        return self._hosts[0] if len(self._hosts) == 1 else None

    def get_cluster_id(self) -> str:
        return self._cluster_id

    async def release(self) -> None:
        return None
