"""The local model, loaded on first use rather than at start.

WordLlama's embedding matrix is 45 MiB of resident memory (``benchmarks/README.md``, "One node
at its limits"). A server whose collections are fed vectors by their clients, or whose models
are all upstream, never embeds a text locally: it should not pay for the model. The first
request that needs it loads it (~0.2 s, once; concurrent first requests wait for the same load).
Start-up still checks that the model's files are installed, so a broken install fails at start,
not on the first request.
"""

from __future__ import annotations

import threading

from service.embeddings.local import LocalModel, model_files


class LazyLocalModel:
    """Holds the :class:`LocalModel` once something has asked for it. Thread-safe."""

    def __init__(self) -> None:
        for path in model_files():
            if not path.is_file():
                raise RuntimeError(f"the local model's file {path} is missing")
        self._model: LocalModel | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> LocalModel:
        """The model, loading it on the first call (blocking: call it off the event loop
        unless :attr:`loaded`)."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = LocalModel.load()
                model = self._model
        return model
