"""Parse libpq connection strings (``key=value`` and ``postgresql://`` URIs) without validating keys.

libpq's own parser rejects keys it does not know, so wrapper properties such
as ``plugins=failover`` could not be written in a connection string. This
parser accepts any key and leaves validation to the wrapper.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["parse_conninfo"]


def parse_conninfo(conninfo: str) -> dict[str, Any]:
    """Split ``conninfo`` into a dict of its keys and values."""
    text = conninfo.strip()
    if text.startswith(("postgresql://", "postgres://")):
        return _parse_uri(text)
    return _parse_key_values(text)


def _parse_uri(uri: str) -> dict[str, Any]:
    parts = urlsplit(uri)
    out: dict[str, Any] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            out["user"] = unquote(user)
        if password:
            out["password"] = unquote(password)
    if netloc:
        hosts, ports = [], []
        for item in netloc.split(","):
            if item.startswith("["):
                host, _, rest = item[1:].partition("]")
                port = rest[1:] if rest.startswith(":") else ""
            else:
                host, _, port = item.partition(":")
            hosts.append(unquote(host))
            ports.append(port)
        if any(hosts):
            out["host"] = ",".join(hosts)
        if any(ports):
            out["port"] = ",".join(ports)
    path = parts.path.lstrip("/")
    if path:
        out["dbname"] = unquote(path)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        out[key] = value
    return out


def _parse_key_values(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=" or not key:
            raise ValueError(f"missing '=' after {key!r} in connection string")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value_chars: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
            if i >= n:
                raise ValueError(f"unterminated quoted value for {key!r} in connection string")
            i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
        out[key] = "".join(value_chars)
    return out
