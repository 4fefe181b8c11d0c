"""``create_app(settings)``: the Litestar application and the resources its lifespan owns.

Usage::

    app = create_app(Settings.load(environ=os.environ))   # then serve it with uvicorn

The lifespan opens long-lived resources once (the shared ``httpx.AsyncClient``, the local
model, the cache) and puts them on ``app.state``; handlers get them by dependency injection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import cast

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from index import Store, StoreLockedError
from service.auth import BearerAuth
from service.batches import BatchService
from service.collections import CollectionService
from service.console import console_routes
from service.embeddings import EmbeddingService
from service.files import FileStore
from service.finetune import FineTuningService
from service.handlers import handle_exception
from service.json_body import JSONBodyRequest
from service.memory import tune_allocator
from service.metrics import Metrics
from service.openapi import openapi_config
from service.proxy import Forwarder, open_client
from service.routes import ROUTES
from service.settings import Settings
from service.telemetry import RequestTelemetry

logger = logging.getLogger(__name__)

__version__ = "0.1.0"


def _embeddings(state: State) -> EmbeddingService:
    return cast(EmbeddingService, state.embeddings)


def _metrics(state: State) -> Metrics:
    return cast(Metrics, state.metrics)


def _collections(state: State) -> CollectionService:
    return cast(CollectionService, state.collections)


def _files(state: State) -> FileStore:
    return cast(FileStore, state.files)


def _fine_tuning(state: State) -> FineTuningService:
    return cast(FineTuningService, state.fine_tuning)


def _batches(state: State) -> BatchService:
    return cast(BatchService, state.batches)


def _forwarder(state: State) -> Forwarder | None:
    return cast(Forwarder | None, state.forwarder)


async def _collection_service(
    store: Store, embeddings: EmbeddingService, settings: Settings
) -> CollectionService:
    """The search API's logic: on one node, or on Ray with sharded collections (issue 17)."""
    if settings.ray_address is None:
        return CollectionService(store, embeddings, settings)
    # Imported here: Ray is an optional extra, loaded only by a server asked to run on it.
    from service.cluster.service import ShardedCollectionService

    return await ShardedCollectionService.open(store, embeddings, settings)


def create_app(settings: Settings) -> Litestar:
    """Build the app; nothing is opened until the ASGI server runs its lifespan."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        tune_allocator()  # before any thread exists: see service/memory.py
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as resources:
            # First, so a second server on the same data directory stops before touching it.
            try:
                store = await CollectionService.open_store(settings)
            except StoreLockedError as exc:
                logger.error("cannot start: %s", exc.message)
                raise
            # Closing snapshots every collection, so the next start replays nothing.
            resources.push_async_callback(asyncio.to_thread, store.close)
            http = None
            if settings.upstream_url is not None:
                limit = settings.upstream_concurrency
                http = httpx.AsyncClient(
                    timeout=httpx.Timeout(settings.upstream_timeout, connect=10.0),
                    limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                )
                resources.push_async_callback(http.aclose)
                forwarding = open_client(settings)  # forwarding (issue 14): its own pool
                resources.push_async_callback(forwarding.aclose)
                app.state.forwarder = Forwarder(forwarding, settings, metrics)
            embeddings = await EmbeddingService.open(settings, http, metrics)
            resources.push_async_callback(embeddings.aclose)
            # Files and fine-tuning (issue 5): the job runner stops (a running job goes back to
            # "queued") before the stores and the embedding service it uses close.
            files = await asyncio.to_thread(FileStore.open, settings.data_dir / "files")
            resources.callback(files.close)
            fine_tuning = await FineTuningService.open(settings, http, metrics, embeddings, files)
            resources.push_async_callback(fine_tuning.aclose)
            batches = await BatchService.open(settings, http, metrics, embeddings, files)
            resources.push_async_callback(batches.aclose)
            app.state.files = files
            app.state.fine_tuning = fine_tuning
            app.state.batches = batches
            collections = await _collection_service(store, embeddings, settings)
            resources.callback(collections.shutdown)  # first out: waits for index work in flight
            app.state.embeddings = embeddings
            app.state.collections = collections
            yield

    middleware = [BearerAuth(settings.api_keys)] if settings.api_keys else []
    app = Litestar(
        route_handlers=[*ROUTES, *console_routes()],
        lifespan=[lifespan],
        state=State({"settings": settings, "metrics": metrics, "forwarder": None}),
        dependencies={
            "embeddings": Provide(_embeddings, sync_to_thread=False),
            "metrics": Provide(_metrics, sync_to_thread=False),
            "collections": Provide(_collections, sync_to_thread=False),
            "files": Provide(_files, sync_to_thread=False),
            "fine_tuning": Provide(_fine_tuning, sync_to_thread=False),
            "batches": Provide(_batches, sync_to_thread=False),
            "forwarder": Provide(_forwarder, sync_to_thread=False),
        },
        middleware=middleware,
        exception_handlers={Exception: handle_exception},
        request_class=JSONBodyRequest,
        request_max_body_size=int(settings.max_body_mb * 1024 * 1024),
        openapi_config=openapi_config(__version__, bearer_auth=bool(settings.api_keys)),
        logging_config=None,
        debug=False,
    )
    # Outermost layer, like Litestar's OpenTelemetry plugin: it also sees unmatched routes.
    app.asgi_handler = RequestTelemetry(app.asgi_handler, metrics)
    return app
