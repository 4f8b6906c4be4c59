"""A small aiohttp service on awsasyncwrap that rides through an Aurora writer failover.

    POST /items {"name": "..."}  -> 201 {"id": N, "name": "..."}   (writes one row)
    GET  /items/{id}             -> 200 {"id": N, "name": "..."} or 404
    GET  /health                 -> 200 {"status": "ok", "host": ...} (one round trip to the database)

Any of them answers 503 with ``Retry-After`` when the database is not reachable right now (a failover
that ended with the transaction's outcome unknown, a failover that failed, no pooled connection in
time); never a 500 for that. The pool lives in the application's ``cleanup_ctx``. Run it (MySQL:
``mysql://user:password@host:port/db``; PostgreSQL: a libpq conninfo or ``postgresql://`` URI;
query parameters of either are wrapper properties)::

    pip install "awsasyncwrap[mysql]" aiohttp
    APP_DSN="mysql://app:secret@db.cluster-xyz.us-east-1.rds.amazonaws.com:3306/app" \\
        python examples/aiohttp_app.py --port 8080
    python examples/aiohttp_app.py --dsn "host=db.cluster-xyz... dbname=app user=app" \\
        --plugins failover,host_monitoring --prop failover_timeout_sec=60

Settings come from the command line or the environment: ``APP_DSN``, ``APP_PLUGINS``,
``APP_HOST_PATTERN`` (``cluster_instance_host_pattern``), ``APP_WRAPPER_PROPS`` (a JSON object of
more wrapper properties), ``APP_TABLE``, ``APP_POOL_MAX``. ``python examples/aiohttp_app.py --help``
lists them all. Under gunicorn the module-level ``app`` reads the environment at startup, one pool per
worker process::

    eval "$(python -m awsasyncwrap.testbed env --engine mariadb)"
    gunicorn --chdir examples -k aiohttp.GunicornWebWorker -w 4 aiohttp_app:app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from items_store import (
    DatabaseUnavailable,
    ItemStore,
    Settings,
    make_pool,
    open_store,
    parse_args,
    settings_from_env,
)

__all__ = ["STORE", "DatabaseUnavailable", "ItemStore", "Settings", "app", "create_app", "main", "make_pool"]


SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", ItemStore)


async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the pool (and create the table) at startup; close it at cleanup."""
    settings = app[SETTINGS] if SETTINGS in app else settings_from_env()
    async with open_store(settings) as store:
        app[STORE] = store
        yield


@web.middleware
async def unavailable_to_503(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DatabaseUnavailable as exc:
        retry_after = request.app[STORE].settings.retry_after
        return web.json_response(
            {"error": "database unavailable", "reason": str(exc)},
            status=503,
            headers={"Retry-After": str(retry_after)},
        )


async def add_item(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name = body["name"]
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="want a JSON object with a name") from None
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise web.HTTPBadRequest(text="name: a string of 1 to 200 characters")
    item_id = await request.app[STORE].add(name)
    return web.json_response({"id": item_id, "name": name}, status=201)


async def get_item(request: web.Request) -> web.Response:
    try:
        item_id = int(request.match_info["item_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    name = await request.app[STORE].get(item_id)
    if name is None:
        raise web.HTTPNotFound(text=f"no item {item_id}")
    return web.json_response({"id": item_id, "name": name})


async def health(request: web.Request) -> web.Response:
    return web.json_response(await request.app[STORE].health())


def create_app(settings: Settings | None = None) -> web.Application:
    """The app; its ``cleanup_ctx`` owns the pool. Without ``settings`` they come from the ``APP_*``
    environment when the app starts."""
    app = web.Application(middlewares=[unavailable_to_503])
    if settings is not None:
        app[SETTINGS] = settings
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/items", add_item)
    app.router.add_get("/items/{item_id}", get_item)
    app.router.add_get("/health", health)
    return app


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, description=__doc__, default_port=8080)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web.run_app(create_app(args.settings), host=args.host, port=args.port)


#: for ``gunicorn -k aiohttp.GunicornWebWorker aiohttp_app:app``: settings from the environment at startup
app = create_app()

if __name__ == "__main__":
    main()
