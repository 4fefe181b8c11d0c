"""HTTP routes, one module per area; ``ROUTES`` is what ``create_app`` mounts."""

from service.routes.collections import (
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
)
from service.routes.documents import (
    delete_document,
    delete_documents,
    get_document,
    list_documents,
    query,
    upsert_documents,
)
from service.routes.embeddings import create_embedding
from service.routes.health import healthz, metrics
from service.routes.models import list_models, retrieve_model

ROUTES = [
    healthz,
    metrics,
    create_embedding,
    list_models,
    retrieve_model,
    create_collection,
    list_collections,
    get_collection,
    delete_collection,
    upsert_documents,
    list_documents,
    get_document,
    delete_document,
    delete_documents,
    query,
]

__all__ = ["ROUTES"]
