"""Subprocesses without blocking the event loop, OS users, and process liveness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import re
import resource
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

from ._errors import TestbedError
from ._wait import until

__all__ = [
    "OsUser",
    "check_reachable",
    "chown",
    "clean_env",
    "cmdline",
    "ensure_os_user",
    "is_root",
    "kill_tree_by_path",
    "pid_alive",
    "pids_using",
    "raise_fd_limit",
    "remove_tree",
    "run",
    "summary",
    "tail",
]

logger = logging.getLogger(__name__)


def is_root() -> bool:
    return os.geteuid() == 0


class OsUser:
    """The account a server runs as: a named system user when we are root, else ourselves."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        if name is None:
            self.uid, self.gid = os.geteuid(), os.getegid()
        else:
            entry = pwd.getpwnam(name)
            self.uid, self.gid = entry.pw_uid, entry.pw_gid

    @property
    def switch(self) -> bool:
        """True when commands must drop to this user."""
        return self.name is not None and self.uid != os.geteuid()


async def ensure_os_user(name: str) -> OsUser:
    """As root: the system user ``name`` (created if missing). Otherwise: the current user."""
    if not is_root():
        return OsUser(None)
    try:
        pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        logger.info("creating system user %s", name)
        await run([useradd, "-r", "-M", "-s", "/usr/sbin/nologin", name], timeout=30)
    return OsUser(name)


async def check_reachable(path: Path, user: OsUser) -> None:
    """Raise :class:`TestbedError` unless ``user`` can enter ``path`` (every parent must be searchable)."""
    if user.switch:
        code, _ = await run(["test", "-x", str(path)], user=user, cwd=Path("/"), timeout=10, check=False)
        if code != 0:
            raise TestbedError(
                f"the server's OS user {user.name} cannot enter {path}; "
                "use a directory whose parents are world-searchable (e.g. under /tmp)"
            )


def chown(path: Path, user: OsUser) -> None:
    if user.switch:
        os.chown(path, user.uid, user.gid)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment minus libpq / MySQL client variables that would redirect our tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL", "MARIADB"))}
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


async def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    user: OsUser | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - the limit is the command's: on expiry it is killed and named
    check: bool = True,
) -> tuple[int, str]:
    """Run a command to completion; return (exit code, stdout+stderr).

    With ``user`` set to another account (we are root), the child switches to it before exec.
    Raises :class:`TestbedError` on timeout, or on a non-zero exit when ``check``.
    """
    args = [os.fspath(a) for a in argv]
    kwargs: dict[str, object] = {}
    if user is not None and user.switch:
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[])
    full_env = clean_env(env)
    if user is not None and user.switch:
        full_env["HOME"] = str(cwd or "/tmp")
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env=full_env,
        start_new_session=True,
        **kwargs,  # type: ignore[arg-type]
    )
    try:
        with anyio.fail_after(timeout):
            out, _ = await proc.communicate()
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await proc.wait()
        if isinstance(exc, TimeoutError):
            raise TestbedError(f"{Path(args[0]).name} did not finish within {timeout:g} s") from None
        raise
    text = out.decode(errors="replace")
    code = proc.returncode if proc.returncode is not None else -1
    logger.debug("%s exited %d", Path(args[0]).name, code)
    if check and code != 0:
        raise TestbedError(f"{Path(args[0]).name} failed (exit {code}): {summary(text)}")
    return code, text


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's soft open-files limit towards ``wanted`` (never above the hard limit).

    The fault proxies run in this process and hold two sockets per proxied connection.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        logger.debug("open files limit raised from %d to %d", soft, target)


def summary(output: str) -> str:
    """The most telling line of a tool's output: its first error line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"\b(error|fatal|panic)\b", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else "(no output)"


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (a killed child stays a zombie until reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state field follows the parenthesised command name, which may contain spaces
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return bool(state) and state[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    """A process's command line, arguments joined by spaces ("" if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_using(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (our servers carry their data dir there)."""
    needle = str(path).rstrip("/") + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and needle in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


async def kill_tree_by_path(path: Path) -> int:
    """SIGKILL every process whose command line names ``path``; wait (10 s at most) until they are gone."""
    pids = pids_using(path)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    async def all_dead() -> bool:
        return not any(pid_alive(pid) for pid in pids)

    with anyio.move_on_after(10):
        await until(all_dead)
    return len(pids)


async def remove_tree(path: Path) -> None:
    """``rm -rf`` in a subprocess (data dirs can be large)."""
    await run(["rm", "-rf", "--", str(path)], timeout=120)


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
