"""Where a later connect's extra time goes: each step of the wrapper's connect, alone and in a real connect.

A step's cost measured alone (its own CPU, nothing else running) understates what it adds to a connect: the
driver's connect code that follows it runs slower after it (colder CPU caches), so the two add up to more
than their sum. So each variant here runs one step of the wrapper's connect and then the driver's own connect,
interleaved with every other variant in shuffled order on one server, and is reported as its time over the
driver's connect alone ("in a connect"), next to the step's own CPU measured alone in the same run ("alone").
The steps, in the order the wrapper runs them:

- ``props``: the connect arguments to validated properties (cached per set of arguments) and the hosts to try;
- ``plugin service``: the connection's plugin service, plugins, pipelines and topology provider;
- ``bound``: the driver's connect within the wrapper's connect timeout, not just the driver's connect;
- ``after``: the connect pipeline, the connection changed and host list pipelines, the proxy, on a plugin
  service made before the timing starts (the driver connect in the pipeline returns an already-open
  connection; the real driver connect follows);
- ``whole wrapper``: ``AsyncAwsConnection.connect`` itself.

The last line gives the budget of a 1.10x target: a tenth of the raw driver's connect.

    python benchmarks/connect_phases.py [--engine postgres|mariadb|both] [--connects 300] [--plugins CODES]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import arg_parser, close_one, engines, median, single_server

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap._opening import forced_driver, prepared_props
from awsasyncwrap.connection import _PROXY_CLASSES
from awsasyncwrap.drivers import driver_dialect_for
from awsasyncwrap.plugin_service import PluginService

#: one variant: opens a connection, returns it, the CPU seconds of the wrapper step alone, and what to
#: release once the timing is over
Step = Callable[[], Awaitable[tuple[Any, float, Any]]]


async def _settle_loop() -> None:
    """Let callbacks of the previous connection's close run, so that they are not timed in the next."""
    for _ in range(3):
        await asyncio.sleep(0)


class Phases:
    """The variants for one server: the raw driver, its connect as the wrapper calls it, each step."""

    def __init__(
        self,
        connect: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        driver_kwargs: dict[str, Any],
        wrapper_props: dict[str, Any],
        plugins: str | None,
    ) -> None:
        self.connect = connect
        self.args = args
        self.driver_kwargs = driver_kwargs
        self.kwargs = {**driver_kwargs, **wrapper_props}
        self.plugins = plugins
        self.driver = driver_dialect_for(connect, None)
        props = prepared_props(self.driver, *self._conninfo(), dict(self.kwargs), plugins)
        self.props = props
        self.host, self.attempt_props = self.driver.first_attempts(props, self.driver.resolve_hosts(props))[0]
        self.spares: list[Any] = []
        self.prepared: PluginService | None = None

    def _conninfo(self) -> tuple[str]:
        return (self.args[0] if self.args else "",)

    def _wrapper_kwargs(self) -> dict[str, Any]:
        return dict(self.kwargs) if self.plugins is None else {**self.kwargs, "plugins": self.plugins}

    async def raw(self) -> tuple[Any, float, Any]:
        return await self.connect(*self.args, **self.driver_kwargs), 0.0, None

    async def driver_connect(self) -> tuple[Any, float, Any]:
        return await self.driver.connect(self.connect, self.host, self.attempt_props), 0.0, None

    async def props_step(self) -> tuple[Any, float, Any]:
        start = time.thread_time()
        kwargs = dict(self.kwargs)
        driver = driver_dialect_for(self.connect, forced_driver(kwargs))
        props = prepared_props(driver, *self._conninfo(), kwargs, self.plugins)
        driver.first_attempts(props, driver.resolve_hosts(props))
        alone = time.thread_time() - start
        return (await self.driver_connect())[0], alone, None

    async def service_step(self) -> tuple[Any, float, Any]:
        start = time.thread_time()
        service = PluginService(self.props, self.driver, self.connect, self.host)
        await service.manager.init_host_provider(self.props, service)
        alone = time.thread_time() - start
        return (await self.driver_connect())[0], alone, service.release

    async def bound_step(self) -> tuple[Any, float, Any]:
        conn = await self.driver.connect_bounded(self.connect, self.host, self.attempt_props)
        return conn, 0.0, None

    async def prepare_after(self) -> None:
        """The plugin service the ``after`` step connects with, made before its timing starts."""
        service = PluginService(self.props, self.driver, self._spare, self.host)
        await service.manager.init_host_provider(self.props, service)
        self.prepared = service

    async def after_step(self) -> tuple[Any, float, Any]:
        service = self.prepared
        assert service is not None
        start = time.thread_time()
        conn = await service.manager.connect(self._spare, self.driver, self.host, self.attempt_props, True)
        await service.set_current_connection(conn, self.host)
        await service.refresh_host_list(conn)
        proxy = _PROXY_CLASSES.get(self.driver.code, AsyncAwsConnection)(service)
        alone = time.thread_time() - start
        return (await self.driver_connect())[0], alone, proxy.close

    async def whole(self) -> tuple[Any, float, Any]:
        conn = await AsyncAwsConnection.connect(self.connect, *self.args, **self._wrapper_kwargs())
        return conn, 0.0, None

    async def _spare(self, *args: Any, **kwargs: Any) -> Any:
        return self.spares.pop()

    def variants(self) -> dict[str, Step]:
        return {
            "raw driver": self.raw,
            "driver connect as the wrapper calls it": self.driver_connect,
            "props": self.props_step,
            "plugin service": self.service_step,
            "bound": self.bound_step,
            "after": self.after_step,
            "whole wrapper": self.whole,
        }


async def measure(phases: Phases, count: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per variant: wall seconds of each connect and the CPU seconds of its wrapper step alone."""
    variants = phases.variants()
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in variants}
    # the first connect of a cluster (dialect detection, the topology monitor starting) is not measured
    keep = await AsyncAwsConnection.connect(phases.connect, *phases.args, **phases._wrapper_kwargs())
    gc.disable()
    try:
        for i in range(count + 5):
            order = list(variants)
            random.shuffle(order)
            for name in order:
                if not phases.spares:
                    phases.spares.append((await phases.driver_connect())[0])
                if name == "after":
                    await phases.prepare_after()
                await _settle_loop()
                start = time.perf_counter()
                conn, alone, release = await variants[name]()
                elapsed = time.perf_counter() - start
                if i >= 5:  # warm-up rounds
                    results[name][0].append(elapsed)
                    results[name][1].append(alone)
                await close_one(conn)
                if release is not None:
                    await release()
                await _settle_loop()
            gc.collect(0)
    finally:
        gc.enable()
        for spare in phases.spares:
            await close_one(spare)
        await close_one(keep)
    return results


def report(title: str, results: dict[str, tuple[list[float], list[float]]]) -> None:
    raw = median(results["raw driver"][0])
    base = median(results["driver connect as the wrapper calls it"][0])
    print(f"\n{title}: {len(results['raw driver'][0])} connects per variant, median µs")
    print(f"{'variant':<40} {'connect':>8} {'alone':>7} {'in a connect':>13}")
    for name, (walls, alones) in results.items():
        wall = median(walls)
        alone = f"{median(alones) * 1e6:7.1f}" if any(alones) else f"{'':>7}"
        extra = f"{(wall - base) * 1e6:+13.1f}" if name != "raw driver" else f"{'':>13}"
        print(f"{name:<40} {wall * 1e6:8.1f} {alone} {extra}")
    whole = median(results["whole wrapper"][0])
    print(
        f"  whole wrapper / raw driver: {whole / raw:.3f}; a 1.10x target leaves {raw * 0.1 * 1e6:.0f} µs "
        f"for everything the wrapper does (it adds {(whole - raw) * 1e6:.0f} µs)"
    )
    print(
        "  alone: the step's own CPU, measured in the same run; in a connect: the variant's connect time "
        "over the driver's connect as the wrapper calls it"
    )


async def run(args: argparse.Namespace) -> None:
    for engine in engines(args.engine):
        async with single_server(engine) as tb:
            if engine == "postgres":
                import psycopg

                phases = Phases(
                    psycopg.AsyncConnection.connect,
                    (tb.dsn(tb.writer),),
                    {"autocommit": True},
                    tb.wrapper_props(),
                    args.plugins,
                )
            else:
                import aiomysql

                phases = Phases(
                    aiomysql.connect,
                    (),
                    {**tb.connect_kwargs(tb.writer), "autocommit": True},
                    tb.wrapper_props(),
                    args.plugins,
                )
            report(
                f"{engine}, through the instance endpoint, plugins={args.plugins!r} (None: the default set)",
                await measure(phases, args.connects),
            )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--engine", choices=["postgres", "mariadb", "both"], default="mariadb")
    parser.add_argument("--connects", type=int, default=300, help="connects per variant")
    parser.add_argument(
        "--plugins", default=None, help="plugin codes of the wrapped variants (default: the default set)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
