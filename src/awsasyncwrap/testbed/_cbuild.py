"""Build ``rds_emul.so`` (makes ``rds.extensions`` show in ``pg_settings``), cached per server version.

Server headers come from ``pg_config --includedir-server`` or, on Debian without
``postgresql-server-dev-<major>``, from that package fetched with ``apt-get download`` and unpacked
with ``dpkg -x`` into the cache (nothing is installed).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ._errors import TestbedError
from ._proc import run

__all__ = ["build_rds_emul", "cache_dir"]

logger = logging.getLogger(__name__)

_built: dict[Path, Path | None] = {}  # per process: bin dir -> built module (None: cannot build)


def cache_dir() -> Path:
    """``$AWSASYNCWRAP_TESTBED_CACHE``, else ``$XDG_CACHE_HOME/awsasyncwrap-testbed`` (~/.cache)."""
    explicit = os.environ.get("AWSASYNCWRAP_TESTBED_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "awsasyncwrap-testbed"


async def build_rds_emul(bin_dir: Path) -> Path | None:
    """The path of a cached ``rds_emul.so`` for the server in ``bin_dir``, or None if it cannot be built."""
    if bin_dir not in _built:
        try:
            _built[bin_dir] = await _build(bin_dir)
        except (TestbedError, OSError) as exc:
            logger.warning("rds_emul.so not built (%s); using the pg_settings shadow view", exc)
            _built[bin_dir] = None
    return _built[bin_dir]


async def _build(bin_dir: Path) -> Path:
    pg_config = bin_dir / "pg_config"
    _, version = await run([pg_config, "--version"], timeout=10)
    match = re.search(r"(\d+)(?:\.(\d+))?", version)
    if not match:
        raise TestbedError(f"cannot parse {version.strip()!r}")
    major = match.group(1)
    source = resources.files("awsasyncwrap.testbed").joinpath("c/rds_emul.c").read_bytes()
    key = re.sub(r"[^A-Za-z0-9.]+", "_", version.strip())[:60] + "-" + hashlib.sha256(source).hexdigest()[:12]
    cache = cache_dir()
    target = cache / f"rds_emul-{key}.so"
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise TestbedError("no C compiler (gcc/cc)")
    include = await _server_headers(pg_config, major, cache)
    with _scratch(cache) as tmp:
        src = tmp / "rds_emul.c"
        src.write_bytes(source)
        out = tmp / "rds_emul.so"
        await run([compiler, "-O2", "-fPIC", "-shared", f"-I{include}", "-o", out, src], timeout=60)
        os.replace(out, target)
    logger.info("built %s", target)
    return target


async def _server_headers(pg_config: Path, major: str, cache: Path) -> Path:
    _, out = await run([pg_config, "--includedir-server"], timeout=10)
    include = Path(out.strip())
    if _has_postgres_h(include):
        return include
    unpacked = cache / f"postgresql-server-dev-{major}"
    include = unpacked / f"usr/include/postgresql/{major}/server"
    if _has_postgres_h(include):
        return include
    apt_get, dpkg = shutil.which("apt-get"), shutil.which("dpkg")
    if apt_get is None or dpkg is None:
        raise TestbedError(f"no server headers for PostgreSQL {major} and no apt-get to fetch them")
    with _scratch(cache) as tmp:
        await run([apt_get, "download", "-q", f"postgresql-server-dev-{major}"], cwd=tmp, timeout=60)
        debs = _debs(tmp)
        if not debs:
            raise TestbedError(f"apt-get download postgresql-server-dev-{major} produced no .deb")
        await run([dpkg, "-x", debs[0], tmp / "root"], timeout=60)
        _move_into_place(tmp / "root", unpacked, include)
    if not _has_postgres_h(include):
        raise TestbedError(f"postgresql-server-dev-{major} has no postgres.h")
    return include


def _has_postgres_h(include: Path) -> bool:
    return (include / "postgres.h").exists()


def _debs(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.deb"))


@contextlib.contextmanager
def _scratch(cache: Path) -> Iterator[Path]:
    """A temporary directory inside the cache (same file system, so results can be renamed in)."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        os.chmod(tmp, 0o755)  # apt's unprivileged _apt user downloads here when it can
        yield Path(tmp)


def _move_into_place(staging: Path, target: Path, marker: Path) -> None:
    try:
        os.replace(staging, target)
    except OSError:
        if not _has_postgres_h(marker):  # else another process unpacked it meanwhile
            raise
