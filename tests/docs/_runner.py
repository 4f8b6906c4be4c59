"""Runs the code blocks of one docs page against the testbed (convention: docs/contributing.md).

Python blocks of a page share one namespace and run in order in the test's event loop, top-level
``await`` allowed. Connections they open to an *example host* (a name ending in ``.rds.amazonaws.com``
or ``example.com``) go to the testbed instead: :class:`ExampleHosts` rewrites the arguments of
``AsyncAwsConnection.connect`` (the entry point of the pools and SQLAlchemy dialects too). Shell blocks
run with bash in the repository root, ``python`` being the test interpreter and ``TMPDIR`` private.
Every error names the ``file:line`` of its block.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import CodeType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from awsasyncwrap import AsyncAwsConnection, release_resources
from awsasyncwrap.testbed import Testbed

from ._snippets import ROOT, RUN_PYTHON, RUN_SHELL, Block, Page

__all__ = ["DocRunError", "ExampleHosts", "is_example_host", "run_page", "start_namespace"]

BLOCK_TIMEOUT = 90.0
_EXAMPLE_HOST = re.compile(r"(?:^|[^A-Za-z0-9.-])([A-Za-z0-9.-]*(?:\.rds\.amazonaws\.com|example\.com))\b")
_DROPPED = ("sslmode", "sslrootcert", "sslcert", "sslkey", "ssl")


class DocRunError(AssertionError):
    """A block failed; the message starts with its ``file:line``."""


def is_example_host(host: object) -> bool:
    return isinstance(host, str) and bool(_EXAMPLE_HOST.fullmatch(" " + host.split(":")[0]))


def _role(host: str) -> str:
    name = host.lower()
    if "-ro-" in name or ".cluster-ro" in name or "-ro." in name or "read" in name:
        return "reader"
    return "cluster"


class ExampleHosts:
    """Sends connections to example hosts to the testbed of their engine."""

    def __init__(self, testbeds: dict[str, Testbed]) -> None:
        self.testbeds = testbeds  # "postgres" / "mariadb"
        self.opened: list[AsyncAwsConnection] = []

    def _endpoint(self, tb: Testbed, host: str) -> tuple[str, int]:
        return tb.address_of(_role(host))

    def _value(self, tb: Testbed, key: str, value: Any) -> Any:
        """A property value naming an example host, aimed at the testbed."""
        if not isinstance(value, str) or not _EXAMPLE_HOST.search(" " + value):
            return value
        if key.endswith("host_pattern"):
            return tb.host_pattern
        if key.endswith("host_patterns"):  # global_cluster_instance_host_patterns: all regions -> the testbed
            from awsasyncwrap.rds_utils import parse_global_host_patterns

            return ",".join(f"{region}:{tb.host_pattern}" for region in parse_global_host_patterns(value))
        ehost = _EXAMPLE_HOST.search(" " + value)
        assert ehost is not None
        host, port = self._endpoint(tb, ehost.group(1))
        return f"{host}:{port}" if ":" in value else host

    def _conninfo(self, tb: Testbed, conninfo: str) -> str:
        if not _EXAMPLE_HOST.search(" " + conninfo):
            return conninfo
        host, port = self._endpoint(tb, _EXAMPLE_HOST.search(" " + conninfo).group(1))  # type: ignore[union-attr]
        if "://" in conninfo:
            parts = urlsplit(conninfo)
            netloc = f"{tb.user}@{host}:{port}"
            return urlunsplit((parts.scheme, netloc, f"/{tb.database}", parts.query, parts.fragment))
        pairs = re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", conninfo)
        kept = [
            f"{k}={v}"
            for k, v in pairs
            if k not in ("host", "hostaddr", "port", "user", "password", "dbname") and k not in _DROPPED
        ]
        return " ".join([tb.dsn((host, port)), *kept])

    def rewrite(
        self, func: Callable[..., Any], conninfo: str, kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """``conninfo`` and ``kwargs`` of a connect call, aimed at the testbed when they name one."""
        mysql = "aiomysql" in (getattr(func, "__module__", "") or "")
        tb = self.testbeds["mariadb" if mysql else "postgres"]
        host = kwargs.get("host")
        example = is_example_host(host) or bool(conninfo and _EXAMPLE_HOST.search(" " + conninfo))
        if not example:
            return conninfo, kwargs
        named = _EXAMPLE_HOST.search(" " + (str(host) if is_example_host(host) else conninfo))
        assert named is not None
        out = {k: self._value(tb, k, v) for k, v in kwargs.items() if k not in _DROPPED}
        conninfo = self._conninfo(tb, conninfo) if conninfo else conninfo
        if is_example_host(host):
            ehost, port = self._endpoint(tb, str(host))
            out.update(host=ehost, port=port, user=tb.user)
            for key in ("password", "db", "dbname", "database"):
                out.pop(key, None)
            if mysql:
                out.update(password=tb.password, db=tb.database)
            else:
                out["dbname"] = tb.database
        for key, value in tb.wrapper_props().items():
            out.setdefault(key, value)
        if any(code in str(out.get("plugins", "")) for code in ("iam", "federated_auth", "okta")):
            out.setdefault("iam_host", named.group(1))  # the token is made for the example host name
        return conninfo, out

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Patch ``AsyncAwsConnection._open`` (under ``connect`` and the pools' connects) for the duration."""
        original = AsyncAwsConnection.__dict__["_open"]
        hosts = self

        async def connect(
            cls: type[AsyncAwsConnection], /, func: Any, conninfo: str = "", **kwargs: Any
        ) -> Any:
            conninfo, kwargs = hosts.rewrite(func, conninfo, kwargs)
            conn = await original.__func__(cls, func, conninfo, **kwargs)
            hosts.opened.append(conn)
            return conn

        AsyncAwsConnection._open = classmethod(connect)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            AsyncAwsConnection._open = original  # type: ignore[method-assign]


def start_namespace() -> dict[str, Any]:
    """What every page's python blocks start with: the names its prose takes as imported."""
    import aiomysql
    import psycopg

    return {
        "__name__": "__doc_snippet__",
        "asyncio": asyncio,
        "anyio": anyio,
        "psycopg": psycopg,
        "aiomysql": aiomysql,
        "AsyncAwsConnection": AsyncAwsConnection,
    }


def _compile(block: Block) -> CodeType:
    try:
        tree = ast.parse(block.code, filename=block.where, mode="exec")
    except SyntaxError as exc:
        where = block.where.rsplit(":", 1)[0]
        line = block.line + (exc.lineno or 1) - 1
        raise DocRunError(f"{where}:{line}: python block does not parse: {exc.msg}") from None
    ast.increment_lineno(tree, block.line - 1)
    filename = str(block.path.relative_to(ROOT)) if block.path.is_relative_to(ROOT) else str(block.path)
    code: CodeType = compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    return code


def _failure(block: Block, exc: BaseException) -> DocRunError:
    frames = "".join(traceback.format_exception(exc)).rstrip()
    kind = "hidden run code" if block.hidden else f"{block.lang} block"
    return DocRunError(f"{block.where}: {kind} failed: {type(exc).__name__}: {exc}\n{frames}")


async def run_python(block: Block, namespace: dict[str, Any]) -> None:
    code = _compile(block)
    try:
        with anyio.fail_after(BLOCK_TIMEOUT):
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                await result
    except DocRunError:
        raise
    except Exception as exc:
        raise _failure(block, exc) from exc


async def run_shell(block: Block, tmpdir: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TMPDIR": str(tmpdir),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", block.code, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        with anyio.fail_after(BLOCK_TIMEOUT):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise DocRunError(f"{block.where}: sh block exited with {proc.returncode}:\n{text}")
    return text


async def _stop_testbeds(tmpdir: Path) -> None:
    """``down`` every CLI testbed a shell block left up in its private TMPDIR."""
    for base in list(tmpdir.glob("awsasyncwrap-testbed-*")):  # noqa: ASYNC240 (a few local entries)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "awsasyncwrap.testbed", "down", "--dir", str(base),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        with anyio.fail_after(60):
            await proc.wait()


async def _close_all(namespace: dict[str, Any], hosts: ExampleHosts) -> None:
    """Close what the blocks opened: engines, pools, connections."""
    with anyio.move_on_after(30, shield=True):
        for value in list(namespace.values()):
            name = type(value).__name__
            with contextlib.suppress(Exception):
                if name == "AsyncEngine":
                    await value.dispose()
                elif name == "AsyncAwsConnectionPool":
                    await value.aclose()
                elif name == "AsyncConnectionPool":
                    await value.close()
        for conn in hosts.opened:
            with contextlib.suppress(Exception):
                await conn.close()
        await release_resources()


@contextlib.asynccontextmanager
async def page_session(testbeds: dict[str, Testbed]) -> AsyncIterator[tuple[dict[str, Any], ExampleHosts]]:
    """A fresh namespace and example-host redirection; everything opened is closed at the end."""
    namespace = start_namespace()
    hosts = ExampleHosts(testbeds)
    try:
        with hosts.installed():
            yield namespace, hosts
    finally:
        await _close_all(namespace, hosts)


async def run_page(page: Page, testbeds: dict[str, Testbed], **names: Any) -> dict[str, Any]:
    """Run every runnable block of ``page`` in order; its namespace at the end.

    ``names`` are added to the namespace (for hidden code: ``moto_server``); ``os.environ`` is restored after.
    Shell blocks get a fresh world-searchable ``TMPDIR`` (a CLI testbed's servers run as their own OS user).
    """
    if page.errors:
        raise DocRunError("\n".join(page.errors))
    environ = dict(os.environ)
    tmpdir = Path(tempfile.mkdtemp(prefix="awsasyncwrap-doc-"))
    os.chmod(tmpdir, 0o755)
    try:
        async with page_session(testbeds) as (namespace, _):
            namespace["pg_cluster"] = testbeds["postgres"]
            namespace["mariadb_cluster"] = testbeds["mariadb"]
            namespace.update(names)
            for block in page.runnable:
                if block.lang in RUN_PYTHON:
                    await run_python(block, namespace)
                elif block.lang in RUN_SHELL:
                    await run_shell(block, tmpdir)
            return namespace
    finally:
        os.environ.clear()
        os.environ.update(environ)
        await _stop_testbeds(tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)
