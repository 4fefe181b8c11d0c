"""HTTP routes, one module per area; ``ROUTES`` is what ``create_app`` mounts."""

from service.routes.batches import cancel_batch, create_batch, list_batches, retrieve_batch
from service.routes.collections import (
    compact_collection,
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
    update_collection,
)
from service.routes.documents import (
    delete_document,
    delete_document_under_delete,
    delete_documents,
    get_document,
    get_document_under_delete,
    list_documents,
    query,
    upsert_documents,
)
from service.routes.embeddings import create_embedding
from service.routes.files import (
    create_file,
    delete_file,
    download_file,
    list_files,
    retrieve_file,
)
from service.routes.fine_tuning import (
    cancel_job,
    create_job,
    list_checkpoints,
    list_events,
    list_jobs,
    retrieve_job,
)
from service.routes.health import healthz, metrics
from service.routes.models import list_models, retrieve_model
from service.routes.proxy import forward

ROUTES = [
    healthz,
    metrics,
    create_embedding,
    list_models,
    retrieve_model,
    create_collection,
    list_collections,
    get_collection,
    update_collection,
    delete_collection,
    compact_collection,
    upsert_documents,
    list_documents,
    get_document,
    delete_document,
    delete_documents,
    get_document_under_delete,
    delete_document_under_delete,
    query,
    create_file,
    list_files,
    retrieve_file,
    download_file,
    delete_file,
    create_job,
    list_jobs,
    retrieve_job,
    cancel_job,
    list_events,
    list_checkpoints,
    create_batch,
    list_batches,
    retrieve_batch,
    cancel_batch,
    forward,  # last in the list; static routes win over its {path:path} whatever the order
]

__all__ = ["ROUTES"]
