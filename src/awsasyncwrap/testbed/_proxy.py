"""An asyncio TCP proxy that can inject network faults, in the caller's event loop.

Modes (:meth:`FaultProxy.set_mode`):

- ``pass``: forward bytes as they come;
- ``delay:MS``: hold every chunk MS milliseconds, keeping order;
- ``blackhole``: keep every socket open and forward nothing (held bytes flow again on ``pass``; new
  connections are accepted but not connected upstream until then);
- ``refuse``: close new connections at once with a TCP reset; live ones are untouched;
- ``reset``: reset (RST) every live connection on both sides, then behave as ``pass``.

A blackhole is a user-space one: the proxy's kernel still ACKs, so client TCP keepalives never fire.

Independently of the mode, :meth:`FaultProxy.fence` holds the traffic of every connection to one
upstream (and new connections that would go there) until :meth:`FaultProxy.unfence`; the testbed fences
a writer while it stops it, so no acknowledgement leaves a writer whose last commits may be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from .._tasks import cancel_and_wait, spawn
from ._errors import TestbedError

__all__ = ["MODES", "FaultProxy", "Target", "parse_mode"]

logger = logging.getLogger(__name__)

MODES = ("pass", "blackhole", "refuse", "reset", "delay:MS")
Target = Callable[[], tuple[str, int] | None]
_MAX_HELD = 1 << 20  # bytes held per direction before reading from the source pauses


def parse_mode(mode: str) -> tuple[str, float]:
    """Check a mode string; return its kind and delay in seconds."""
    if mode in ("pass", "blackhole", "refuse", "reset"):
        return mode, 0.0
    if mode.startswith("delay:"):
        try:
            ms = float(mode[6:])
        except ValueError:
            ms = -1.0
        if ms >= 0:
            return "delay", ms / 1000.0
    raise TestbedError(f"bad network mode {mode!r}; valid: {', '.join(MODES)}")


def _reset(transport: asyncio.Transport) -> None:
    """Close with an RST instead of a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Pipe:
    """One direction of a proxied connection: queue (with delay), hold (blackhole), forward."""

    def __init__(self, proxy: FaultProxy, link: _Link, from_client: bool) -> None:
        self._proxy = proxy
        self._link = link
        self._from_client = from_client
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._held = 0
        self._timer: asyncio.TimerHandle | None = None
        self.dst_full = False

    @property
    def _src(self) -> asyncio.Transport | None:
        return self._link.client if self._from_client else self._link.upstream

    @property
    def _dst(self) -> asyncio.Transport | None:
        return self._link.upstream if self._from_client else self._link.client

    def push(self, data: bytes | None) -> None:
        """Queue a chunk (``None``: end of stream)."""
        self._queue.append((self._proxy._loop.time() + self._proxy._delay, data))
        if data:
            self._held += len(data)
        self.pump()

    def pump(self) -> None:
        """Forward what is due, arm a timer for the rest, pause or resume the source."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        dst = self._dst
        if self._link.doomed and not self._proxy._blackholed:
            self._link.close(reset=True)
            return
        if dst is not None and not self._link.held and not self._link.closed:
            loop = self._proxy._loop
            now = loop.time()
            while self._queue and self._queue[0][0] <= now:
                data = self._queue.popleft()[1]
                if data is None:
                    self._link.close()
                    return
                self._held -= len(data)
                dst.write(data)
            if self._queue:
                self._timer = loop.call_at(self._queue[0][0], self.pump)
        self.update_reading()

    def update_reading(self) -> None:
        src = self._src
        if src is None or src.is_closing():
            return
        if self._from_client and self._link.upstream is None:
            # not connected upstream yet (blackhole, fence): keep reading, so that a client that gives up
            # is seen at once and its link closed, rather than held until the fault ends
            hold = self._held > _MAX_HELD
        else:
            hold = self._link.held or self._dst is None or self.dst_full or self._held > _MAX_HELD
        if hold:
            src.pause_reading()
        else:
            src.resume_reading()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()


class _Link:
    """A client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, client: asyncio.Transport) -> None:
        self._proxy = proxy
        self.client: asyncio.Transport | None = client
        self.upstream: asyncio.Transport | None = None
        self.up = _Pipe(proxy, self, from_client=True)
        self.down = _Pipe(proxy, self, from_client=False)
        self.target: tuple[str, int] | None = None  # the upstream address, once chosen
        self.fenced = False
        self.doomed = False  # reset once the blackhole ends: its upstream died while fenced
        self.closed = False
        self.connecting: asyncio.Task[None] | None = None  # the task choosing and dialing the upstream

    @property
    def held(self) -> bool:
        """True while no byte may be forwarded either way."""
        return self._proxy._blackholed or self.fenced or self.doomed

    def pump(self) -> None:
        self.up.pump()
        if not self.closed:
            self.down.pump()

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self._proxy._links.discard(self)
        self.up.cancel()
        self.down.cancel()
        task = self.connecting
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # waiting for a blackhole or fence to end, or dialing: nobody needs it now
        for transport in (self.client, self.upstream):
            if transport is not None:
                if reset:
                    _reset(transport)
                else:
                    transport.close()


class _Side(asyncio.Protocol):
    """Protocol for either socket of a link."""

    def __init__(self, proxy: FaultProxy, link: _Link | None = None) -> None:
        self._proxy = proxy
        self._link = link
        self._is_client = link is None

    def _pipes(self) -> tuple[_Pipe, _Pipe] | None:
        """(pipe reading from this side, pipe writing to this side)."""
        link = self._link
        if link is None:
            return None
        return (link.up, link.down) if self._is_client else (link.down, link.up)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._is_client:
            self._link = self._proxy._accept(transport)
        elif self._link is not None:
            if self._link.closed:
                transport.abort()
                return
            self._link.upstream = transport
            self._link.up.pump()
            self._link.down.pump()

    def data_received(self, data: bytes) -> None:
        pipes = self._pipes()
        if pipes is not None:
            pipes[0].push(data)

    def eof_received(self) -> bool:
        link = self._link
        if link is not None and self._is_client and link.upstream is None:
            link.close()  # the client left before its upstream was connected: nothing to deliver
            return False
        pipes = self._pipes()
        if pipes is not None:
            pipes[0].push(None)
        return True  # the link closes both sides once the EOF is forwarded

    def connection_lost(self, exc: Exception | None) -> None:
        if self._link is not None:
            self._link.close(reset=exc is not None)

    def pause_writing(self) -> None:
        pipes = self._pipes()
        if pipes is not None:
            pipes[1].dst_full = True
            pipes[1].update_reading()

    def resume_writing(self) -> None:
        pipes = self._pipes()
        if pipes is not None:
            pipes[1].dst_full = False
            pipes[1].pump()


class FaultProxy:
    """Forward connections accepted on a bound socket to ``target()``, with injectable faults.

    ``target`` is called for each new connection and returns ``(host, port)``, or ``None`` to reset the
    client at once; live connections keep the upstream they got. Every task the proxy starts is owned by
    it and stopped by :meth:`aclose`.
    """

    def __init__(self, sock: socket.socket, target: Target, *, name: str = "proxy") -> None:
        self._sock: socket.socket | None = sock
        self._address: tuple[str, int] = sock.getsockname()[:2]
        self._target = target
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._mode = "pass"
        self._delay = 0.0
        self._blackholed = False
        self._unblocked = asyncio.Event()
        self._unblocked.set()
        self._fenced: set[tuple[str, int]] = set()
        self._fence_lifted = asyncio.Event()
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def connections(self) -> int:
        """Number of live proxied connections (including those still waiting for their upstream)."""
        return len(self._links)

    @property
    def tasks(self) -> int:
        """Number of the proxy's unfinished tasks (one per connection still waiting for its upstream)."""
        return sum(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Start accepting on the socket given to the constructor."""
        if self._sock is None or self._server is not None:
            raise TestbedError(f"proxy {self.name} cannot be started twice")
        self._server = await self._loop.create_server(lambda: _Side(self), sock=self._sock)
        self._sock = None

    def set_mode(self, mode: str) -> None:
        """Switch the fault mode (see the module docstring)."""
        kind, delay = parse_mode(mode)
        if kind == "reset":
            links = list(self._links)
            for link in links:
                link.close(reset=True)
            logger.debug("proxy %s: reset %d connection(s)", self.name, len(links))
            mode, delay = "pass", 0.0
        self._mode = mode
        self._delay = delay
        self._blackholed = mode == "blackhole"
        if self._blackholed:
            self._unblocked.clear()
        else:
            self._unblocked.set()
        for link in list(self._links):
            link.pump()
        logger.debug("proxy %s: mode %s", self.name, mode)

    def fence(self, upstream: tuple[str, int]) -> None:
        """Hold every byte to and from ``upstream``, and new connections that would go there.

        Other connections and the mode are untouched. Ends with :meth:`unfence`.
        """
        self._fenced.add(upstream)
        for link in self._links:
            if link.target == upstream:
                link.fenced = True
                link.pump()

    def unfence(self, upstream: tuple[str, int], *, drop: bool) -> None:
        """End :meth:`fence`. ``drop``: discard what was held and reset those connections (at once, or
        when a blackhole ends), as a crashed host would; else let the held bytes flow.

        New connections held by the fence pick their upstream again.
        """
        self._fenced.discard(upstream)
        for link in list(self._links):
            if not link.fenced or link.target != upstream:
                continue
            link.fenced = False
            if drop:
                link.up.cancel()
                link.down.cancel()
                link.doomed = True
            link.pump()
        self._fence_lifted.set()
        self._fence_lifted = asyncio.Event()

    def _accept(self, client: asyncio.Transport) -> _Link | None:
        if self._mode == "refuse" or self._closed:
            _reset(client)
            return None
        link = _Link(self, client)
        self._links.add(link)
        link.up.update_reading()  # reads (and queues) until the upstream is connected
        link.connecting = self._spawn(self._connect(link), f"{self.name}-connect")
        return link

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return spawn(coro, name, self._tasks, loop=self._loop)

    async def _connect(self, link: _Link) -> None:
        while True:
            while self._blackholed and not link.closed:
                await self._unblocked.wait()
            if link.closed:
                return
            target = self._target()
            if target is None:
                link.close(reset=True)
                return
            if target not in self._fenced:
                break
            await self._fence_lifted.wait()  # then ask for the upstream again
        link.target = target
        try:
            await self._loop.create_connection(lambda: _Side(self, link), target[0], target[1])
        except OSError as exc:
            logger.debug("proxy %s: upstream %s:%s: %s", self.name, target[0], target[1], exc)
            link.close(reset=True)

    async def aclose(self) -> None:
        """Stop listening, reset every connection, stop every task."""
        if self._closed:
            return
        self._closed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close(reset=True)
        await cancel_and_wait(list(self._tasks), None)
        if self._server is not None:
            await self._server.wait_closed()
