"""A small FastAPI service on awsasyncwrap that rides through an Aurora writer failover.

    POST /items {"name": "..."}  -> 201 {"id": N, "name": "..."}   (writes one row)
    GET  /items/{id}             -> 200 {"id": N, "name": "..."} or 404
    GET  /health                 -> 200 {"status": "ok", "host": ...} (one round trip to the database)

Any of them answers 503 with ``Retry-After`` when the database is not reachable right now (a failover
that ended with the transaction's outcome unknown, a failover that failed, no pooled connection in
time); never a 500 for that. Run it (PostgreSQL: a libpq conninfo or ``postgresql://`` URI; MySQL:
``mysql://user:password@host:port/db``; query parameters of either are wrapper properties)::

    pip install "awsasyncwrap[psycopg]" fastapi uvicorn
    APP_DSN="host=db.cluster-xyz.us-east-1.rds.amazonaws.com dbname=app user=app" \\
        python examples/fastapi_app.py --port 8000
    python examples/fastapi_app.py --dsn "mysql://app:secret@db.cluster-xyz...:3306/app" \\
        --plugins failover,host_monitoring --prop failover_timeout_sec=60

Settings come from the command line or the environment: ``APP_DSN``, ``APP_PLUGINS``,
``APP_HOST_PATTERN`` (``cluster_instance_host_pattern``), ``APP_WRAPPER_PROPS`` (a JSON object of
more wrapper properties), ``APP_TABLE``, ``APP_POOL_MAX``. ``python examples/fastapi_app.py --help``
lists them all. Under a process manager the module-level ``app`` reads the environment at startup,
one pool per worker process::

    eval "$(python -m awsasyncwrap.testbed env)"        # or export APP_DSN=... yourself
    uvicorn --app-dir examples fastapi_app:app --workers 4
    gunicorn --chdir examples -k uvicorn.workers.UvicornWorker -w 4 fastapi_app:app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from items_store import (
    DatabaseUnavailable,
    ItemStore,
    Settings,
    make_pool,
    open_store,
    parse_args,
    settings_from_env,
)
from pydantic import BaseModel, Field

__all__ = ["DatabaseUnavailable", "ItemStore", "Settings", "app", "create_app", "main", "make_pool"]


class NewItem(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class Item(BaseModel):
    id: int
    name: str


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; its lifespan opens the pool (and creates the table) and closes it at shutdown.

    Without ``settings`` they come from the ``APP_*`` environment when the app starts.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_store(settings or settings_from_env()) as store:
            app.state.store = store
            yield

    app = FastAPI(title="items (awsasyncwrap)", lifespan=lifespan)

    def store_of(request: Request) -> ItemStore:
        store: ItemStore = request.app.state.store
        return store

    @app.exception_handler(DatabaseUnavailable)
    async def unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return JSONResponse(
            {"error": "database unavailable", "reason": str(exc)},
            status_code=503,
            headers={"Retry-After": str(store_of(request).settings.retry_after)},
        )

    @app.post("/items", status_code=201)
    async def add_item(item: NewItem, request: Request) -> Item:
        return Item(id=await store_of(request).add(item.name), name=item.name)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int, request: Request) -> Item:
        name = await store_of(request).get(item_id)
        if name is None:
            raise HTTPException(status_code=404, detail=f"no item {item_id}")
        return Item(id=item_id, name=name)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        return await store_of(request).health()

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv, description=__doc__, default_port=8000)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(args.settings), host=args.host, port=args.port, log_level=args.log_level)


#: for ``uvicorn fastapi_app:app`` / gunicorn: settings from the environment, read at startup
app = create_app()

if __name__ == "__main__":
    main()
