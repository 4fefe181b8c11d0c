"""Ray itself: importing it (lazily), connecting, shard actors, and calls to them.

``connect("auto", ...)`` starts a Ray of this process's own: nodes advertise 127.0.0.1, the
dashboard stays off, and token authentication is on (``RAY_AUTH_MODE=token``; a 256-bit token
kept in ``<data_dir>/ray/auth_token``, mode 0600), so a process that reaches Ray's ports without
the token is refused. Any other address joins an existing cluster, which brings its own
security (README, "Running on Ray"): the token comes from ``RAY_AUTH_TOKEN`` or
``RAY_AUTH_TOKEN_PATH`` as Ray reads them.

Calls to shards run on the service's thread pool (``ray.get`` blocks). A shard that died or is
restarting makes the request fail with 503 and ``Retry-After``, never with partial results.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import index
from service.cluster.registry import Placement
from service.cluster.shard import Shard
from service.errors import ServiceUnavailableError

log = logging.getLogger(__name__)

NAMESPACE = "semsearch"
#: Nodes started with a custom resource of this prefix hold shards by that name (stable
#: across cluster restarts, unlike node ids): ``ray start --resources '{"semsearch_node_a": 1}'``.
RESOURCE_PREFIX = "semsearch_node"
#: What a shard asks of its node's custom resource: a sliver, so any number fit.
RESOURCE_SHARE = 0.001
#: Seconds a client is told to wait before retrying while a shard restarts.
RETRY_AFTER = 2


class RayMissingError(RuntimeError):
    """The ``ray`` extra is not installed."""


def import_ray() -> ModuleType:
    """Ray, imported on first use (the core never imports it)."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise RayMissingError(
            'Ray is not installed: pip install "semsearch[ray]" (the ray extra)'
        ) from None


def connect(address: str, data_dir: Path) -> None:
    """Join the Ray cluster at ``address``, or start a local one for ``"auto"``."""
    if address == "auto":
        # Ray reads its authentication settings from the environment when it is imported, and
        # its workers inherit this process's: the one place the service sets variables for
        # another program.
        os.environ["RAY_AUTH_MODE"] = "token"
        if not os.environ.get("RAY_AUTH_TOKEN"):
            os.environ["RAY_AUTH_TOKEN_PATH"] = str(local_token(data_dir))
    ray = import_ray()
    if ray.is_initialized():
        return
    started = time.perf_counter()
    options: dict[str, Any] = {
        "namespace": NAMESPACE,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if address == "auto":
        ray.init(
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            resources={f"{RESOURCE_PREFIX}_local": 1},
            **options,
        )
    else:
        ray.init(address=address, **options)
    log.info("joined Ray at %s in %.1f s", address, time.perf_counter() - started)


def local_token(data_dir: Path) -> Path:
    """The local cluster's token file, created (0600) with 256 random bits if missing."""
    path = data_dir / "ray" / "auth_token"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path


def disconnect() -> None:
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()


def placements(shards: int) -> list[Placement]:
    """Spread ``shards`` over the cluster's alive nodes, round robin in a stable order."""
    ray = import_ray()
    nodes = sorted(
        (node for node in ray.nodes() if node.get("Alive")), key=lambda n: str(n["NodeID"])
    )
    if not nodes:
        raise ServiceUnavailableError("the Ray cluster has no alive node")
    places = []
    for node in nodes:
        named = sorted(r for r in node.get("Resources", {}) if r.startswith(RESOURCE_PREFIX))
        places.append(
            Placement(resource=named[0]) if named else Placement(node_id=str(node["NodeID"]))
        )
    places.sort(key=lambda p: (p.resource or "", p.node_id or ""))
    return [places[i % len(places)] for i in range(shards)]


def actor_name(collection: str, number: int) -> str:
    return f"shard:{collection}:{number}"


def shard_actor(root: Path, collection: str, number: int, placement: Placement) -> Any:
    """The actor of shard ``number`` (created, or the running one), pinned to its node and
    restarted by Ray whenever its process dies."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "name": actor_name(collection, number),
        "namespace": NAMESPACE,
        "get_if_exists": True,
        "max_restarts": -1,
        # A call in flight when the shard dies fails (503): a retried write could run twice
        # after a later one, and a retried read would only hide the failure.
        "max_task_retries": 0,
        # Reads run side by side in the actor as in the server (the index is thread-safe).
        "max_concurrency": 16,
        # Shards wait on disk and memory, not CPU: asking for none lets many share a node.
        "num_cpus": 0,
    }
    if placement.resource is not None:
        options["resources"] = {placement.resource: RESOURCE_SHARE}
    else:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            node_id=str(placement.node_id), soft=False
        )
    remote = ray.remote(Shard)
    return remote.options(**options).remote(
        str(root / collection / str(number)), collection, number
    )


#: One actor call: ``(handle, method, args, kwargs)``.
Call = tuple[Any, str, tuple[Any, ...], dict[str, Any]]


class Calls:
    """Calls to shard actors from threads, errors mapped to the service's: an ``index``
    error as itself, a dead, restarting or silent shard as 503 with ``Retry-After``.

    A shard seen failing is *down* until it answers a ping: requests that need it get 503 at
    once instead of queueing behind its restart.
    """

    def __init__(self, timeout: float) -> None:
        self._ray = import_ray()
        self._timeout = timeout
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def gather(self, handles: Sequence[Any], method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """``method`` of each actor in ``handles`` with the same arguments, in parallel."""
        return self.each([(h, method, args, kwargs) for h in handles])

    def each(self, calls: Sequence[Call]) -> list[Any]:
        """Several actor calls ``(handle, method, args, kwargs)`` at once; results in order."""
        ray = self._ray
        self._check_up([handle for handle, *_ in calls])
        refs = [
            getattr(handle, method).remote(*args, **kwargs)
            for handle, method, args, kwargs in calls
        ]
        try:
            return list(ray.get(refs, timeout=self._timeout))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, index.IndexStoreError):
                raise cause from None
            raise
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
            for handle, *_ in calls:
                self._mark_down(handle)
            raise unavailable(f"a shard is unavailable ({type(exc).__name__})") from None

    def _check_up(self, handles: Sequence[Any]) -> None:
        with self._lock:
            down = [h for h in handles if _key(h) in self._down]
        for handle in down:
            try:
                self._ray.get(handle.ping.remote(), timeout=0.5)
            except Exception:
                raise unavailable("a shard is restarting") from None
            with self._lock:
                self._down.discard(_key(handle))

    def _mark_down(self, handle: Any) -> None:
        with self._lock:
            self._down.add(_key(handle))


def unavailable(message: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"{message}; retry in a few seconds", headers={"Retry-After": str(RETRY_AFTER)}
    )


def _key(handle: Any) -> str:
    return str(handle._actor_id.hex())
