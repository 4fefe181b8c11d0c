"""Prometheus metrics through ``prometheus_client``, the ecosystem's standard client.

Usage::

    metrics = Metrics()
    metrics.cache_hits.inc(3)
    metrics.http_duration.observe(0.002, method="GET", route="/v1/models")
    body, content_type = metrics.exposition(accept=request.headers.get("accept"))

Each ``Metrics`` keeps its own metrics (none lands in the library's global registry), so two
apps in one process, as in tests, never share counts. ``Counter`` and ``Histogram`` are thin
wrappers that keep this module's small interface (``inc``/``observe`` with labels as keyword
arguments, ``value``) while the library does the counting, thread safety and the text format
(and OpenMetrics, when a scraper asks for it in ``Accept``). A metric with labels declares
their names, as Prometheus wants a fixed label set per metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import prometheus_client
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# No ``*_created`` series: a timestamp per label set doubles the output for nothing we chart.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

#: The classic text format's type, as served to a client that asks for nothing in particular.
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_PLAIN_0_0_4

# Seconds; tuned to a service whose cached answers take ~1 ms and upstream misses ~100 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def _check(name: str, declared: tuple[str, ...], given: dict[str, str]) -> None:
    if set(given) != set(declared):
        raise ValueError(f"{name} takes labels ({', '.join(declared)}), got ({', '.join(given)})")


class Counter:
    """A monotonically increasing count, optionally split by the declared labels."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.labels = tuple(labels)
        self._metric = prometheus_client.Counter(name, help, self.labels, registry=None)

    def inc(self, amount: float = 1, **labels: str) -> None:
        if labels or self.labels:
            _check(self.name, self.labels, labels)
            self._metric.labels(**labels).inc(amount)
        else:
            self._metric.inc(amount)

    def value(self, **labels: str) -> float:
        """The current count of one label set (0 when never counted)."""
        total = self.name if self.name.endswith("_total") else self.name + "_total"
        for metric in self.collect():
            for sample in metric.samples:
                if sample.name == total and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def collect(self) -> Iterable[Metric]:
        return self._metric.collect()


class Histogram:
    """Cumulative buckets, sum and count per label set."""

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.name = name
        self.labels = tuple(labels)
        self._metric = prometheus_client.Histogram(
            name, help, self.labels, registry=None, buckets=tuple(buckets)
        )

    def observe(self, value: float, **labels: str) -> None:
        if labels or self.labels:
            _check(self.name, self.labels, labels)
            self._metric.labels(**labels).observe(value)
        else:
            self._metric.observe(value)

    def collect(self) -> Iterable[Metric]:
        return self._metric.collect()


class Metrics(Collector):
    """Every metric the service exports; one instance per app (it is its own registry)."""

    def __init__(self) -> None:
        self.http_requests = Counter(
            "semsearch_http_requests_total",
            "HTTP requests by method, route template and status.",
            labels=("method", "route", "status"),
        )
        self.http_duration = Histogram(
            "semsearch_http_request_duration_seconds",
            "HTTP request latency by route template.",
            labels=("method", "route"),
        )
        self.cache_hits = Counter(
            "semsearch_embedding_cache_hits_total", "Inputs answered from the embedding cache."
        )
        self.cache_misses = Counter(
            "semsearch_embedding_cache_misses_total", "Inputs not found in the embedding cache."
        )
        self.cache_evictions = Counter(
            "semsearch_embedding_cache_evictions_total", "Cache entries evicted (LRU) to fit."
        )
        self.upstream_requests = Counter(
            "semsearch_upstream_requests_total", "HTTP requests sent upstream, retries included."
        )
        self.upstream_retries = Counter(
            "semsearch_upstream_retries_total",
            "Upstream attempts that were retried, by reason.",
            labels=("reason",),
        )
        self.upstream_errors = Counter(
            "semsearch_upstream_errors_total",
            "Upstream batches that failed for good, by kind.",
            labels=("kind",),
        )
        self.embedding_tokens = Counter(
            "semsearch_embedding_tokens_total",
            "Prompt tokens embedded, by model and provider.",
            labels=("model", "provider"),
        )
        self.embedding_inputs = Counter(
            "semsearch_embedding_inputs_total",
            "Inputs embedded, by model and provider.",
            labels=("model", "provider"),
        )
        self.forwarded_requests = Counter(
            "semsearch_forwarded_requests_total",
            "Forwarded requests by route, status and model.",
            labels=("route", "status", "model"),
        )
        self.forwarded_latency = Histogram(
            "semsearch_forwarded_upstream_seconds",
            "Upstream time to response headers, by route.",
            labels=("route",),
        )
        self.forwarded_tokens = Counter(
            "semsearch_forwarded_tokens_total",
            "Usage tokens of forwarded answers by model, kind.",
            labels=("model", "kind"),
        )

    def collect(self) -> Iterator[Metric]:
        for metric in vars(self).values():
            if isinstance(metric, Counter | Histogram):
                yield from metric.collect()

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The body and Content-Type for ``/metrics``: the classic text format unless
        ``accept`` asks for OpenMetrics (as Prometheus itself does)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self), content_type

    def render(self) -> str:
        """The classic text format."""
        return prometheus_client.generate_latest(self).decode()
