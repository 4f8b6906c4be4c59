"""The switchover as a pure state machine: status rows and time in, routing decisions out (no I/O).

Each side's monitor reports what its host's metadata says (:meth:`SwitchoverState.observe`); the
state combines both sides into one phase, detects a rollback (a side's phase going backwards during a
switchover), forces completion ``switchover_timeout`` seconds after the switchover began, and answers
:meth:`connect_route` (new connects) and :meth:`execute_route` (calls on an open connection).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Phase", "Role", "Route", "Row", "SwitchoverState", "parse_phase", "parse_role"]


class Phase(enum.IntEnum):
    """Where a deployment is; the order is the switchover's."""

    NOT_CREATED = 0
    CREATED = 1
    PREPARATION = 2
    IN_PROGRESS = 3
    POST = 4
    COMPLETED = 5


class Role(enum.Enum):
    SOURCE = "blue"
    TARGET = "green"


_PHASES = {
    "AVAILABLE": Phase.CREATED,
    "SWITCHOVER_INITIATED": Phase.PREPARATION,
    "SWITCHOVER_IN_PROGRESS": Phase.IN_PROGRESS,
    "SWITCHOVER_IN_POST_PROCESSING": Phase.POST,
    "SWITCHOVER_COMPLETED": Phase.COMPLETED,
}
_ROLES = {"BLUE_GREEN_DEPLOYMENT_SOURCE": Role.SOURCE, "BLUE_GREEN_DEPLOYMENT_TARGET": Role.TARGET}
_ACTIVE = (Phase.PREPARATION, Phase.IN_PROGRESS, Phase.POST)


def parse_phase(status: str | None) -> Phase:
    """The phase of a metadata ``status`` (none: NOT_CREATED); unknown values raise ``ValueError``."""
    if not status:
        return Phase.NOT_CREATED
    try:
        return _PHASES[status.upper()]
    except KeyError:
        raise ValueError(f"unknown blue/green status {status!r}; valid: {', '.join(_PHASES)}") from None


def parse_role(role: str, version: str) -> Role:
    """The role of a metadata ``role`` (metadata version 1.0 only)."""
    if version != "1.0":
        raise ValueError(f"unknown blue/green metadata version {version!r}; valid: 1.0")
    try:
        return _ROLES[role.upper()]
    except KeyError:
        raise ValueError(f"unknown blue/green role {role!r}; valid: {', '.join(_ROLES)}") from None


@dataclass(frozen=True)
class Row:
    """One metadata row: an endpoint (lower-case host name) of one side, and its status."""

    endpoint: str
    port: int
    role: Role
    phase: Phase

    @classmethod
    def parse(cls, version: str, endpoint: str, port: int, role: str, status: str) -> Row:
        return cls(endpoint.lower().rstrip("."), int(port), parse_role(role, version), parse_phase(status))


RouteKind = Literal["pass", "substitute", "suspend", "reject", "move"]


@dataclass(frozen=True)
class Route:
    """What to do with a connect or a call.

    ``substitute``: connect to ``ip`` (keep the host name for TLS / IAM), the connection then being on
    ``side``; ``suspend``: wait for the next change, at most until ``until`` (monotonic seconds);
    ``move``: the connection is on blue after the switch: reopen it on green ``host`` (``ip``).
    """

    kind: RouteKind
    ip: str | None = None
    host: str | None = None
    side: Role | None = None
    until: float | None = None


PASS = Route("pass")


@dataclass
class SwitchoverState:
    """The combined view of both sides of one deployment (``bg_id``)."""

    switchover_timeout: float = 180.0
    suspend_new_blue: bool = False
    sides: dict[Role, Phase] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    rolled_back: bool = False
    started_at: float | None = None  # monotonic time the current switchover began
    green_dns_removed: bool = False

    # -- inputs --------------------------------------------------------------------------------

    def observe(self, side: Role, rows: list[Row], now: float) -> bool:
        """A monitor read its side's metadata (``rows`` empty: none). True if the routing may change."""
        before = (self.phase, tuple(sorted(self.roles.items())))
        mine = [r.phase for r in rows if r.role is side]
        phase = max(mine) if mine else (max(r.phase for r in rows) if rows else Phase.NOT_CREATED)
        previous = self.sides.get(side)
        if previous in _ACTIVE and Phase.CREATED <= phase < previous:
            self.rolled_back = True
            for other in self.sides:  # the other side's last answer is stale now
                self.sides[other] = min(self.sides[other], phase)
        elif phase is Phase.PREPARATION and previous is not None and previous < Phase.PREPARATION:
            # a new switchover starts with PREPARATION; a later phase right after a rollback is a stale
            # answer (e.g. held by a host that was fenced during the switchover)
            self.rolled_back = False
        self.sides[side] = phase
        if rows:
            self.roles = {**self.roles, **{r.endpoint: r.role for r in rows}}
            self.ports.update((r.endpoint, r.port) for r in rows)
        elif all(p is Phase.NOT_CREATED for p in self.sides.values()):
            self.roles = {}
        combined = self.phase
        if combined >= Phase.PREPARATION and self.started_at is None and combined < Phase.COMPLETED:
            self.started_at = now
        elif combined <= Phase.CREATED:
            self.started_at = None
            self.green_dns_removed = False
        return (self.phase, tuple(sorted(self.roles.items()))) != before

    def record_ips(self, ips: dict[str, str]) -> None:
        """IP addresses of the endpoints, taken while DNS still tells the truth (CREATED)."""
        self.ips = {**self.ips, **{k.lower(): v for k, v in ips.items()}}

    # -- derived -------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """The furthest phase any side reports."""
        return max(self.sides.values(), default=Phase.NOT_CREATED)

    def forced_at(self) -> float | None:
        """When the switchover counts as completed whatever the metadata says (None: not running)."""
        if self.started_at is None or self.phase >= Phase.COMPLETED:
            return None
        return self.started_at + self.switchover_timeout

    def timed_out(self, now: float) -> bool:
        forced = self.forced_at()
        return forced is not None and now >= forced

    def role_of(self, host: str | None) -> Role | None:
        return None if host is None else self.roles.get(host.lower().rstrip("."))

    def green_for(self, blue_host: str) -> str | None:
        """The green endpoint that corresponds to a blue one (``a.b`` -> ``a-green-xxxxxx.b``)."""
        first, _, rest = blue_host.lower().partition(".")
        pattern = re.compile(rf"{re.escape(first)}-green-[0-9a-z]{{6}}\.{re.escape(rest)}")
        for endpoint, role in self.roles.items():
            if role is Role.TARGET and pattern.fullmatch(endpoint):
                return endpoint
        return None

    def monitor_endpoint(self, side: Role) -> str | None:
        """The endpoint a side's monitor should read: its cluster (writer) endpoint, else any."""
        names = sorted(e for e, r in self.roles.items() if r is side)
        for name in names:
            if ".cluster-" in name and ".cluster-ro-" not in name:
                return name
        return names[0] if names else None

    def interval_kind(self) -> Literal["baseline", "increased", "high"]:
        """Which poll rate the monitors use now."""
        phase = self.phase
        if phase in _ACTIVE:
            return "high"
        if phase is Phase.CREATED or (phase is Phase.COMPLETED and not self.green_dns_removed):
            return "increased"
        return "baseline"

    # -- decisions -----------------------------------------------------------------------------

    def connect_route(self, host: str, now: float) -> Route:
        """What a new connect to ``host`` does now."""
        role = self.role_of(host)
        phase = self.phase
        if role is None or phase <= Phase.CREATED or self.rolled_back or self.timed_out(now):
            return PASS
        name = host.lower().rstrip(".")
        if phase is Phase.PREPARATION:
            if role is Role.SOURCE and self.suspend_new_blue:
                return Route("suspend", until=self.forced_at())
            ip = self.ips.get(name)
            return Route("substitute", ip=ip, host=name, side=role) if ip else PASS
        if phase is Phase.IN_PROGRESS:
            return Route("suspend", until=self.forced_at())
        if role is Role.TARGET:
            return PASS if self.green_dns_removed else Route("reject")
        green = self.green_for(name)
        ip = self.ips.get(green) if green else None
        return Route("substitute", ip=ip, host=green, side=Role.TARGET) if ip else PASS

    def execute_route(self, side: Role | None, now: float) -> Route:
        """What a call on a connection on ``side`` (None: not part of the deployment) does now."""
        if side is None or self.rolled_back:
            return PASS
        phase = self.phase
        if phase < Phase.IN_PROGRESS or self.timed_out(now):
            return PASS
        if phase is Phase.IN_PROGRESS:
            return Route("suspend", until=self.forced_at())
        return Route("move") if side is Role.SOURCE else PASS
