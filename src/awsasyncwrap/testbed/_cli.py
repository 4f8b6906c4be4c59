"""``python -m awsasyncwrap.testbed``: run a testbed in the background and drive it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from ._cluster import ENGINES, MAX_INSTANCES
from ._daemon import LOG_FILE, STATE_FILE, read_state, request
from ._errors import TestbedError
from ._global import parse_regions
from ._proc import pid_alive, pids_using

__all__ = ["app_env", "main"]

_UP_TIMEOUT = 180.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def default_dir(engine: str) -> Path:
    return Path(tempfile.gettempdir()) / f"awsasyncwrap-testbed-{engine}"


def _parser() -> argparse.ArgumentParser:
    where = _Parser(add_help=False)
    where.add_argument("--dir", help="testbed directory (default: /tmp/awsasyncwrap-testbed-<engine>)")
    where.add_argument("--engine", help=f"engine ({', '.join(ENGINES)}); picks the default --dir")
    where.add_argument("--json", action="store_true", help="print JSON instead of a table")

    parser = _Parser(prog="python -m awsasyncwrap.testbed", description="Local emulated Aurora cluster.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    up = sub.add_parser("up", parents=[where], help="start a testbed in the background")
    up.add_argument("--instances", type=int, default=3, help=f"number of instances, 1..{MAX_INSTANCES} (3)")
    up.add_argument("--base-port", type=int, help="proxy port P; instance N's server on P+N (default: free)")
    up.add_argument("--dns-lag", type=float, default=0.0, help="seconds endpoints lag behind a failover")
    up.add_argument(
        "--global", dest="regions", help="Global Database: REGION:COUNT,... (us-east-1:3,eu-west-1:2)"
    )
    sub.add_parser("status", parents=[where], help="show every instance")
    fo = sub.add_parser("failover", parents=[where], help="crash the writer and promote a reader")
    fo.add_argument("--to", help="instance to promote (default: the most advanced reader)")
    fo.add_argument("--delay", type=float, default=0.0, help="seconds between crash and promotion")
    for name, text in (
        ("kill", "crash an instance"),
        ("start", "start a stopped instance in its role"),
        ("rejoin", "make an instance a replica of the writer"),
    ):
        cmd = sub.add_parser(name, parents=[where], help=text)
        cmd.add_argument("instance", help="instance number")
    net = sub.add_parser("net", parents=[where], help="set a proxy's fault mode")
    net.add_argument("target", help="instance number, cluster, reader or all")
    net.add_argument("mode", help="pass | blackhole | refuse | reset | delay:MS")
    bg = sub.add_parser(
        "bluegreen", parents=[where], help="blue/green deployment: create, switchover, delete"
    )
    bg.add_argument("action", choices=("create", "switchover", "status", "delete"))
    bg.add_argument("--phase-seconds", help="switchover: PREPARATION,NOTICE,POST seconds (default 2,0.3,1)")
    bg.add_argument("--rollback", action="store_true", help="switchover: roll back to blue instead")
    bg.add_argument(
        "--dns-lag", type=float, default=0.0, help="switchover: seconds blue names still reach blue"
    )
    ep = sub.add_parser("endpoint", parents=[where], help="Aurora custom endpoint: create, modify, delete")
    ep.add_argument("action", choices=("create", "modify", "delete"))
    ep.add_argument("name", help="endpoint id (the first label of its host name)")
    ep.add_argument("--members", help="create / modify: instance numbers, e.g. 2,3")
    gdb = sub.add_parser("global", parents=[where], help="Global Database: status, switchover, failover, net")
    gdb.add_argument("action", choices=("status", "switchover", "failover", "net"))
    gdb.add_argument("--to", help="switchover / failover: the region to move the writer to")
    gdb.add_argument("--region", help="net: the region whose proxies change mode")
    gdb.add_argument("--mode", help="net: pass | blackhole | refuse | reset | delay:MS")
    lim = sub.add_parser(
        "limitless",
        parents=[where],
        help="Limitless shard group (postgres): create, load, kill, start, delete",
    )
    lim.add_argument("action", choices=("create", "load", "kill", "start", "delete"))
    lim.add_argument("router", nargs="?", help="load / kill / start: router number (0-based)")
    lim.add_argument("load", nargs="?", help="load: the router's load, 0.0 .. 1.0")
    lim.add_argument("--routers", type=int, default=3, help="create: number of routers (3)")
    env_help = "the settings an app needs: shell exports (APP_*), or --json connect kwargs"
    env = sub.add_parser("env", parents=[where], help=env_help)
    env.add_argument("--target", default="cluster", help="cluster (default), reader or an instance number")
    sub.add_parser("heal", parents=[where], help="all proxies pass, every instance up and replicating")
    sub.add_parser("down", parents=[where], help="stop everything and delete the directory")
    daemon = sub.add_parser("_daemon")  # internal: the background process started by `up`
    daemon.add_argument("--dir", required=True)
    daemon.add_argument("--engine", required=True)
    daemon.add_argument("--instances", type=int, required=True)
    daemon.add_argument("--base-port", type=int)
    daemon.add_argument("--dns-lag", type=float, default=0.0)
    daemon.add_argument("--global", dest="regions")
    return parser


def _check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ENGINES:
        raise TestbedError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")


def _resolve_dir(args: argparse.Namespace) -> Path:
    _check_engine(args.engine)
    if args.dir:
        return Path(args.dir).absolute()
    if args.engine:
        return default_dir(args.engine)
    found = [default_dir(e) for e in ENGINES if (default_dir(e) / STATE_FILE).exists()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise TestbedError(f"no testbed is up in {' or '.join(str(default_dir(e)) for e in ENGINES)}")
    raise TestbedError("testbeds are up for several engines; pass --engine or --dir")


def _daemon_state(base: Path) -> dict[str, Any]:
    state = read_state(base)
    if state is None:
        raise TestbedError(f"no testbed is up in {base}")
    if not pid_alive(int(state["pid"])):
        raise TestbedError(f"the testbed in {base} is not running (its daemon died); run `down` to clean up")
    return state


def _print_status(status: dict[str, Any]) -> None:
    host, port = status["cluster_endpoint"]
    rhost, _ = status["reader_endpoint"]
    modes = status["endpoint_modes"]
    print(f"{status['engine']} testbed in {status['base_dir']}: ", end="")
    print(f"host pattern {status['host_pattern']}, port {port}")
    print(
        f"cluster endpoint {host}:{port} -> {status['endpoint_writer']} [{modes['cluster']}]; "
        f"reader endpoint {rhost}:{port} -> {','.join(status['endpoint_readers']) or '-'} [{modes['reader']}]"
    )
    rows: list[tuple[str, ...]] = [("ID", "ROLE", "STATE", "PROXY", "NET", "NODE PORT", "REPLICATION")]
    if any(inst.get("region") for inst in status["instances"]):
        rows[0] = ("ID", "ROLE", "REGION", "STATE", "PROXY", "NET", "NODE PORT", "REPLICATION")
    for inst in status["instances"]:
        state = ("up" if inst["reachable"] else "unreachable") if inst["running"] else "down"
        repl = inst["replication"]
        if inst["replicating_from"]:
            repl = f"{repl} from {inst['replicating_from']}"
        ahost, aport = inst["address"]
        rows.append(
            (
                inst["id"],
                inst["role"],
                state,
                f"{ahost}:{aport}",
                inst["proxy_mode"],
                str(inst["node_port"]),
                repl,
            )
        )
        if inst.get("region"):  # a Global Database: the region after the role
            rows[-1] = (*rows[-1][:2], inst["region"], *rows[-1][2:])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
            + "  "
            + row[-1]
        )
    print("healthy" if status["healthy"] else "NOT healthy")


def _output(args: argparse.Namespace, reply: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps({k: v for k, v in reply.items() if k != "ok"}, indent=2))
        return
    report = reply.get("report")
    if report:
        print(
            f"failover {report['old_writer']} -> {report['new_writer']} in {report['total']:.3f} s "
            f"(catch-up {report['catch_up']:.3f}, kill {report['kill']:.3f}, "
            f"promote {report['promote']:.3f}, writable {report['writable']:.3f}, "
            f"repoint {report['repoint']:.3f})"
        )
    for line in (*reply.get("bluegreen", ()), *reply.get("lines", ())):
        print(line)
    if "status" in reply:
        _print_status(reply["status"])


def app_env(engine: str, connect_kwargs: dict[str, Any], wrapper_props: dict[str, Any]) -> dict[str, str]:
    """The environment of the example apps for a testbed: ``APP_DSN`` (a libpq conninfo, or ``mysql://``
    for MariaDB) and ``APP_WRAPPER_PROPS`` (JSON)."""
    kwargs = connect_kwargs
    if engine == "postgres":
        dsn = " ".join(f"{k}={v}" for k, v in kwargs.items() if v is not None)
    else:
        password = quote(str(kwargs.get("password") or ""), safe="")
        user = quote(str(kwargs["user"]), safe="")
        dsn = f"mysql://{user}:{password}@{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"
    return {"APP_DSN": dsn, "APP_WRAPPER_PROPS": json.dumps(wrapper_props)}


def _print_env(args: argparse.Namespace, reply: dict[str, Any]) -> None:
    """``env``: connect kwargs + wrapper props as JSON, or shell exports for the example apps."""
    kwargs, props = reply["connect_kwargs"], reply["wrapper_props"]
    if args.json:
        print(json.dumps({**kwargs, **props}, indent=2))
        return
    print(f"# {reply['engine']} testbed: the settings of examples/fastapi_app.py and aiohttp_app.py")
    for name, value in app_env(reply["engine"], kwargs, props).items():
        print(f"export {name}={shlex.quote(value)}")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _cleanup_stale(base: Path) -> None:
    """Kill what a dead daemon left behind (processes naming ``base`` in their command line)."""
    state = read_state(base) or {}
    pid = int(state.get("pid", 0))
    if pid and pid_alive(pid) and "awsasyncwrap.testbed" in _cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    for server in pids_using(base):
        os.kill(server, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (pids_using(base) or (pid and pid_alive(pid))) and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["rm", "-rf", "--", str(base)], check=False)


def _up(args: argparse.Namespace) -> int:
    engine = args.engine or "postgres"
    _check_engine(engine)
    if args.regions:
        parse_regions(args.regions)
    elif not 1 <= args.instances <= MAX_INSTANCES:
        raise TestbedError(f"bad instance count {args.instances}; valid: 1..{MAX_INSTANCES}")
    base = Path(args.dir).absolute() if args.dir else default_dir(engine)
    state = read_state(base)
    if state is not None:
        if pid_alive(int(state["pid"])):
            raise TestbedError(f"a {state['engine']} testbed is already up in {base}; run `down` first")
        print(f"removing a stale testbed in {base}", file=sys.stderr)
        _cleanup_stale(base)
    elif base.exists() and any(base.iterdir()):
        raise TestbedError(f"{base} exists and is not empty; pick another --dir")
    base.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "awsasyncwrap.testbed", "_daemon", "--dir", str(base), "--engine", engine]
    argv += ["--instances", str(args.instances), "--dns-lag", str(args.dns_lag)]
    if args.base_port is not None:
        argv += ["--base-port", str(args.base_port)]
    if args.regions:
        argv += ["--global", args.regions]
    with (base / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _UP_TIMEOUT)
    line = proc.stdout.readline().decode().strip() if ready else ""
    proc.stdout.close()
    if line.startswith("READY "):
        status = json.loads(line[6:])
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            print(f"{engine} testbed up in {status['elapsed']:.2f} s (daemon pid {proc.pid})")
            _print_status(status)
        return 0
    if line.startswith("ERROR "):
        proc.wait(30)
        _cleanup_stale(base)
        raise TestbedError(line[6:])
    proc.kill()
    proc.wait(30)
    _cleanup_stale(base)
    raise TestbedError(
        f"the testbed daemon did not start within {_UP_TIMEOUT:g} s" if not ready else "daemon died"
    )


def _down(args: argparse.Namespace) -> int:
    base = _resolve_dir(args)
    state = read_state(base)
    if state is None:
        if base.exists() and pids_using(base):
            _cleanup_stale(base)
            print(f"testbed in {base} is down (cleaned up without its daemon)")
            return 0
        raise TestbedError(f"no testbed is up in {base}")
    pid = int(state["pid"])
    try:
        if not pid_alive(pid):
            raise TestbedError("daemon gone")
        request(state, "down", timeout=120)
        deadline = time.monotonic() + 15
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_alive(pid) or base.exists():
            raise TestbedError("daemon did not finish")
    except TestbedError:
        _cleanup_stale(base)
    print(f"testbed in {base} is down")
    return 0


def _command(args: argparse.Namespace) -> int:
    if args.command == "up":
        return _up(args)
    if args.command == "down":
        return _down(args)
    state = _daemon_state(_resolve_dir(args))
    if args.command == "status":
        reply = request(state, "status")
    elif args.command == "failover":
        reply = request(state, "failover", to=args.to, delay=args.delay)
    elif args.command in ("kill", "start", "rejoin"):
        reply = request(state, args.command, instance=args.instance)
    elif args.command == "net":
        reply = request(state, "net", target=args.target, mode=args.mode)
    elif args.command == "bluegreen":
        reply = request(
            state,
            "bluegreen",
            action=args.action,
            phase_seconds=args.phase_seconds,
            rollback=args.rollback,
            dns_lag=args.dns_lag,
        )
    elif args.command == "global":
        reply = request(state, "global", action=args.action, to=args.to, region=args.region, mode=args.mode)
    elif args.command == "endpoint":
        reply = request(state, "endpoint", action=args.action, name=args.name, members=args.members)
    elif args.command == "limitless":
        reply = request(
            state, "limitless", action=args.action, router=args.router, load=args.load, routers=args.routers
        )
    elif args.command == "env":
        _print_env(args, request(state, "env", target=args.target))
        return 0
    else:
        reply = request(state, "heal")
    _output(args, reply)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "_daemon":
        from ._daemon import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        _check_engine(args.engine)
        return asyncio.run(
            serve(
                Path(args.dir),
                args.engine,
                args.instances,
                base_port=args.base_port,
                dns_lag=args.dns_lag,
                regions=parse_regions(args.regions) if args.regions else None,
            )
        )
    try:
        return _command(args)
    except TestbedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
