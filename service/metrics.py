"""Prometheus metrics, rendered by hand in the text exposition format (no client dependency).

Usage::

    metrics = Metrics()
    metrics.cache_hits.inc(3)
    metrics.http_duration.observe(0.002, method="GET", route="/v1/models")
    body = metrics.render()

Counters may be bumped from worker threads (the cache runs on one), so updates take a lock.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds; tuned to a service whose cached answers take ~1 ms and upstream misses ~100 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

LabelKey = tuple[tuple[str, str], ...]


def _labels(key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = key + extra
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count, optionally split by labels."""

    kind = "counter"

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self._values: dict[LabelKey, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0)

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted(self._values.items())
        if not items:
            yield f"{self.name} 0"
        for key, value in items:
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Histogram:
    """Cumulative buckets, sum and count per label set, as Prometheus expects."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name = name
        self.help = help
        self.buckets = buckets
        self._series: dict[LabelKey, list[float]] = {}  # bucket counts..., +Inf, sum
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (len(self.buckets) + 2)
            series[index] += 1
            series[-1] += value

    def samples(self) -> Iterator[str]:
        with self._lock:
            items = sorted((key, list(series)) for key, series in self._series.items())
        for key, series in items:
            running = 0.0
            for bound, count in zip((*self.buckets, math.inf), series[:-1], strict=True):
                running += count
                le = (("le", _number(bound)),)
                yield f"{self.name}_bucket{_labels(key, le)} {_number(running)}"
            yield f"{self.name}_sum{_labels(key)} {_number(series[-1])}"
            yield f"{self.name}_count{_labels(key)} {_number(running)}"


class Metrics:
    """Every metric the service exports; one instance per app."""

    def __init__(self) -> None:
        self.http_requests = Counter(
            "semsearch_http_requests_total", "HTTP requests by method, route template and status."
        )
        self.http_duration = Histogram(
            "semsearch_http_request_duration_seconds", "HTTP request latency by route template."
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
            "semsearch_upstream_retries_total", "Upstream attempts that were retried, by reason."
        )
        self.upstream_errors = Counter(
            "semsearch_upstream_errors_total", "Upstream batches that failed for good, by kind."
        )
        self.embedding_tokens = Counter(
            "semsearch_embedding_tokens_total", "Prompt tokens embedded, by model and provider."
        )
        self.embedding_inputs = Counter(
            "semsearch_embedding_inputs_total", "Inputs embedded, by model and provider."
        )
        self.forwarded_requests = Counter(
            "semsearch_forwarded_requests_total", "Forwarded requests by route, status and model."
        )
        self.forwarded_latency = Histogram(
            "semsearch_forwarded_upstream_seconds", "Upstream time to response headers, by route."
        )
        self.forwarded_tokens = Counter(
            "semsearch_forwarded_tokens_total", "Usage tokens of forwarded answers by model, kind."
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in vars(self).values():
            if isinstance(metric, Counter | Histogram):
                lines.append(f"# HELP {metric.name} {metric.help}")
                lines.append(f"# TYPE {metric.name} {metric.kind}")
                lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
