"""Where libpq would connect: its own rules (env vars, service file, defaults), asked of libpq itself.

libpq merges a connection string with the ``PG*`` environment variables, the
``service=`` entry of ``pg_service.conf`` (``PGSERVICEFILE``, ``PGSYSCONFDIR``,
``PGSERVICE``) and its compiled defaults only when it starts a connection, and
offers no call that merges without connecting. :func:`effective_params` starts
one that is sure to stop before any I/O: an invalid ``target_session_attrs``
is rejected after the merge and before the host is even looked up; the merged
values are then read back from the stillborn connection (``PQconninfo``).

That costs about 0.4 ms, so the result is kept for the same parameters and the same ``PG*``
environment (never when a service file is involved: its content may change between connects).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from functools import lru_cache
from operator import methodcaller
from typing import Any

from .._bounded import remember
from ..errors import ConfigurationError

__all__ = ["effective_params", "split_hosts"]

_POISON = "awsasyncwrap-probe"
_MERGED: dict[Hashable, dict[str, str]] = {}
_MERGED_MAX = 32


def effective_params(params: Mapping[str, Any]) -> dict[str, str]:
    """libpq's effective value of every connection parameter for ``params`` (no I/O but local files).

    Also ``default_host``: the host libpq falls back to when none is set (its socket directory).
    """
    env = _pg_environment()
    key: tuple[Any, ...] | None = (env, *sorted(zip(params, map(str, params.values()), strict=True)))
    if "service" in params or _PGSERVICE in env[0]:
        key = None  # read from a file at each connect
    if key is not None:
        cached = _MERGED.get(key)
        if cached is not None:
            return dict(cached)
    out = _merged(params)
    if key is not None:
        remember(_MERGED, key, dict(out), _MERGED_MAX)
    return out


_environ: Any = os.environ
_PG = _environ.encodekey("PG")  # os.environ's raw keys: bytes on POSIX, upper-case str on Windows
_PGSERVICE = _environ.encodekey("PGSERVICE")
_starts_pg = methodcaller("startswith", _PG)


def _pg_environment() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The ``PG*`` environment variables (names, values; raw, sorted by name), read without a Python-level
    loop over the whole environment (``os.environ.items()`` decodes every variable: some 2,000 bytecodes
    per connect)."""
    environ: Any = os.environ
    data = getattr(environ, "_data", None) if environ is _environ else None
    if data is None:  # os.environ replaced by some other mapping: read it the plain way
        pairs = sorted((_environ.encodekey(k), v) for k, v in environ.items() if k.startswith("PG"))
        return tuple(k for k, _ in pairs), tuple(v for _, v in pairs)
    # os.environ's raw mapping, kept in step by its own setters
    names = tuple(sorted(filter(_starts_pg, data)))
    return names, tuple(map(data.__getitem__, names))


def _merged(params: Mapping[str, Any]) -> dict[str, str]:
    from psycopg import pq
    from psycopg.conninfo import make_conninfo

    conninfo = make_conninfo("", **{**params, "target_session_attrs": _POISON})
    pgconn = pq.PGconn.connect_start(conninfo.encode())
    try:
        message = pgconn.get_error_message()
        if pgconn.status != pq.ConnStatus.BAD or _POISON not in message:
            # libpq refused the settings themselves (e.g. an unknown service): its message says why
            raise ConfigurationError(f"Bad connection settings: {message.strip() or 'rejected by libpq'}.")
        out = {opt.keyword.decode(): opt.val.decode() for opt in pgconn.info if opt.val is not None}
        out["default_host"] = pgconn.host.decode()
    finally:
        pgconn.finish()
    out.pop("target_session_attrs", None)
    if "target_session_attrs" in params:
        out["target_session_attrs"] = str(params["target_session_attrs"])
    return out


def split_hosts(params: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """``(host, hostaddr, port)`` of each host libpq would try, in order (libpq's pairing rules)."""
    get = params.get
    return list(_split_hosts(get("host", ""), get("hostaddr", ""), get("port", ""), get("default_host", "")))


@lru_cache(maxsize=32)  # the same settings on every connect of a pool or an app; errors are not cached
def _split_hosts(host: str, hostaddr: str, port: str, default_host: str) -> tuple[tuple[str, str, int], ...]:
    params = {"host": host, "hostaddr": hostaddr, "port": port}
    hosts = host.split(",") if host else []
    addrs = hostaddr.split(",") if hostaddr else []
    ports = port.split(",") if port else []
    if hosts and addrs and len(hosts) != len(addrs):
        raise ConfigurationError(
            f"Bad connection settings: {len(hosts)} host names (host={params['host']!r}) but "
            f"{len(addrs)} addresses (hostaddr={params['hostaddr']!r}); give as many of each."
        )
    count = max(len(hosts), len(addrs), 1)
    if len(ports) > 1 and len(ports) != count:
        raise ConfigurationError(
            f"Bad connection settings: {len(ports)} ports (port={params['port']!r}) for {count} hosts; "
            "give one port, or one per host."
        )
    out = []
    for i in range(count):
        name = hosts[i].strip() if hosts else ""
        addr = addrs[i].strip() if addrs else ""
        port_text = (ports[i] if len(ports) > 1 else ports[0]).strip() if ports else ""
        try:
            port_number = int(port_text) if port_text else 5432
        except ValueError:
            raise ConfigurationError(
                f"Bad connection settings: port {port_text!r} is not a number (port={params['port']!r})."
            ) from None
        if not name and not addr:
            name = default_host
        out.append((name, addr, port_number))
    return tuple(out)
