"""Aurora-like host names for testbed addresses: a per-process override of ``socket.getaddrinfo``.

Both drivers resolve host names in Python, through ``loop.getaddrinfo`` (psycopg's async connect resolves
every host into ``hostaddr`` before libpq sees it; aiomysql goes through ``loop.create_connection``), and
the default event loop calls ``socket.getaddrinfo`` at call time. Replacing that one function therefore
makes testbed names resolve to loopback addresses for both drivers, with renames visible at once,
without touching ``/etc/hosts`` or any other system file: nothing outlives the process.

A *zone* is a DNS suffix owned by a testbed (``.<id>.us-east-1.rds.amazonaws.com``): a name in a zone
resolves from the table, or fails at once with ``EAI_NONAME`` (never a real DNS query). Other names go
to the original resolver. Not covered: event loops that resolve in native code (uvloop), and processes
other than this one unless they call :func:`use_hosts_file` (the CLI daemon writes such a file).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["NameTable", "use_hosts_file"]

_lock = threading.Lock()  # install / uninstall happen on the loop thread; lookups run in executor threads
_original: Callable[..., Any] | None = None
_tables: list[NameTable] = []


class NameTable:
    """Names -> IPv4 addresses for some zones; active between :meth:`install` and :meth:`uninstall`."""

    def __init__(self, zones: tuple[str, ...]) -> None:
        self.zones = tuple(z.lower().lstrip(".") for z in zones)
        self._names: dict[str, str] = {}

    def set(self, names: dict[str, str]) -> None:
        """Replace every entry at once (a rename is one atomic switch for concurrent lookups)."""
        self._names = {n.lower().rstrip("."): ip for n, ip in names.items()}

    @property
    def names(self) -> dict[str, str]:
        return dict(self._names)

    def owns(self, name: str) -> bool:
        return any(name == z or name.endswith("." + z) for z in self.zones)

    def lookup(self, name: str) -> str | None:
        return self._names.get(name)

    def install(self) -> None:
        """Make this process resolve the table's names (idempotent)."""
        global _original
        with _lock:
            if self in _tables:
                return
            if _original is None:
                _original = socket.getaddrinfo
                socket.getaddrinfo = _getaddrinfo
            _tables.append(self)

    def uninstall(self) -> None:
        """Forget the table; the last one restores the original ``socket.getaddrinfo``."""
        global _original
        with _lock:
            if self in _tables:
                _tables.remove(self)
            if not _tables and _original is not None:
                socket.getaddrinfo = _original
                _original = None


class _FileTable(NameTable):
    """A table read from a hosts-style file (``# zone SUFFIX``, ``IP NAME`` lines), re-read on change."""

    def __init__(self, path: Path) -> None:
        super().__init__(())
        self._path = path
        self._stamp: float | None = None
        self._refresh()

    def _refresh(self) -> None:
        try:
            stamp = self._path.stat().st_mtime_ns
        except OSError:
            self.zones, self._names = (), {}
            return
        if stamp == self._stamp:
            return
        zones: list[str] = []
        names: dict[str, str] = {}
        for line in self._path.read_text().splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[:2] == ["#", "zone"]:
                zones.append(fields[2].lower().lstrip("."))
            elif len(fields) == 2 and not fields[0].startswith("#"):
                names[fields[1].lower()] = fields[0]
        self.zones, self._names, self._stamp = tuple(zones), names, stamp

    def owns(self, name: str) -> bool:
        self._refresh()
        return super().owns(name)


def write_hosts_file(path: Path, zones: tuple[str, ...], names: dict[str, str]) -> None:
    """Write (atomically) what :func:`use_hosts_file` reads."""
    lines = [f"# zone {z}" for z in zones] + [f"{ip} {name}" for name, ip in sorted(names.items())]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def use_hosts_file(path: str | os.PathLike[str]) -> NameTable:
    """Resolve the names of a testbed run by the CLI daemon (its ``hosts`` file) in this process."""
    table = _FileTable(Path(path))
    table.install()
    return table


def _resolve(host: object) -> str | None:
    """The table's address for ``host``; None if no zone owns it; raises ``gaierror`` if removed."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return None
    name = host.lower().rstrip(".")
    for table in list(_tables):
        if table.owns(name):
            ip = table.lookup(name)
            if ip is None:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return ip
    return None


def _getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
    original = _original or socket.getaddrinfo
    ip = _resolve(host)
    return original(host if ip is None else ip, port, family, type, proto, flags)
