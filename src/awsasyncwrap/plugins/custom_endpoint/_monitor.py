"""One monitor per custom endpoint and event loop: reads its members from the RDS API periodically."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import anyio

from ..._allowed_hosts import AllowedHosts
from ..._background import BackgroundService
from ...aws._session import aws_client, client_error_code, session_for

__all__ = ["CustomEndpointInfo", "CustomEndpointMonitor", "Settings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomEndpointInfo:
    """What ``DescribeDBClusterEndpoints`` says of one custom endpoint."""

    endpoint_type: str
    static_members: frozenset[str]
    excluded_members: frozenset[str]

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> CustomEndpointInfo:
        return cls(
            str(item.get("CustomEndpointType", "ANY")),
            frozenset(item.get("StaticMembers") or ()),
            frozenset(item.get("ExcludedMembers") or ()),
        )

    @property
    def allowed_hosts(self) -> AllowedHosts:
        """Static members: only them; otherwise every instance but the excluded ones."""
        if self.static_members:
            return AllowedHosts(allowed=self.static_members)
        return AllowedHosts(blocked=self.excluded_members)


@dataclass(frozen=True)
class Settings:
    """How one endpoint is read."""

    endpoint_id: str
    region: str
    refresh: float
    rds_endpoint: str | None


class CustomEndpointMonitor(BackgroundService):
    """Polls one custom endpoint; tells listening plugins when its members change."""

    name = "custom_endpoint"

    def __init__(self, settings: Settings, props: dict[str, Any]) -> None:
        super().__init__()
        self.settings = settings
        self._props = props
        self.info: CustomEndpointInfo | None = None
        self._known = asyncio.Event()
        self._listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self.reads = 0  # successful API reads (tests, logs)

    def start(self) -> None:
        """Start polling (once)."""
        if not self.task_count and not self.closed:
            self.spawn(self._run(), name=f"custom_endpoint:{self.settings.endpoint_id}")

    def listen(self, plugin: Any) -> None:
        """Call ``plugin.on_members_change(info)`` on every change (weakly held)."""
        self._listeners.add(plugin)

    async def wait_for_info(self, within: float) -> CustomEndpointInfo | None:
        """The endpoint's members, waiting up to ``within`` s for the first read."""
        if self.info is None:
            with anyio.move_on_after(within):
                await self._known.wait()
        return self.info

    async def _run(self) -> None:
        settings = self.settings
        session = session_for(self._props)
        while True:
            try:
                # one attempt per poll: a throttled or failed read waits for the next poll, not a retry
                async with aws_client(
                    session, "rds", settings.region, endpoint_url=settings.rds_endpoint, retries=0
                ) as client:
                    while True:
                        await self._read(client)
                        await asyncio.sleep(settings.refresh)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client itself failed: a new one after a pause
                logger.warning("custom endpoint %s: RDS client failed (%s)", settings.endpoint_id, _why(exc))
                await asyncio.sleep(settings.refresh)

    async def _read(self, client: Any) -> None:
        settings = self.settings
        try:
            answer = await client.describe_db_cluster_endpoints(
                DBClusterEndpointIdentifier=settings.endpoint_id,
                Filters=[{"Name": "db-cluster-endpoint-type", "Values": ["custom"]}],
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning(
                "custom endpoint %s: reading its members failed (%s); the last known members stay in force",
                settings.endpoint_id,
                _why(exc),
            )
            return
        items = answer.get("DBClusterEndpoints") or []
        if len(items) != 1:
            logger.warning(
                "custom endpoint %s: the RDS API returned %d endpoints for it; the last known members stay "
                "in force",
                settings.endpoint_id,
                len(items),
            )
            return
        self.reads += 1
        info = CustomEndpointInfo.from_api(items[0])
        if info == self.info:
            return
        self.info = info
        self._known.set()
        logger.info("custom endpoint %s: %s", settings.endpoint_id, info.allowed_hosts)
        for plugin in list(self._listeners):
            plugin.on_members_change(info)


def _why(exc: BaseException) -> str:
    """An AWS error's code (e.g. ``Throttling``), else its type: never its message (it may echo input)."""
    return client_error_code(exc) or type(exc).__name__
