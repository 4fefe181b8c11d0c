"""HTTP routes, one module per area; ``ROUTES`` is what ``create_app`` mounts."""

from service.routes.embeddings import create_embedding
from service.routes.health import healthz, metrics
from service.routes.models import list_models, retrieve_model

ROUTES = [healthz, metrics, create_embedding, list_models, retrieve_model]

__all__ = ["ROUTES"]
