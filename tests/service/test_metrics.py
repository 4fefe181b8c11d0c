"""``service/metrics.py``: prometheus_client behind the service's small metrics interface."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import CONTENT_TYPE, Metrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parsed with the library's own parser: the output is valid exposition text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_render_counters_and_histograms() -> None:
    metrics = Metrics()
    metrics.cache_hits.inc(3)
    metrics.embedding_tokens.inc(7, model="m", provider="local")
    metrics.http_duration.observe(0.003, method="GET", route='/a"b')
    metrics.http_duration.observe(20.0, method="GET", route='/a"b')
    text = metrics.render()
    assert "# TYPE semsearch_embedding_cache_hits_total counter" in text
    assert "# TYPE semsearch_http_request_duration_seconds histogram" in text
    samples = _samples(text)
    assert samples[("semsearch_embedding_cache_hits_total", ())] == 3
    assert samples[("semsearch_embedding_tokens_total", (("model", "m"), ("provider", "local")))]
    route = (("method", "GET"), ("route", '/a"b'))

    def bucket(le: str) -> float:
        return samples[("semsearch_http_request_duration_seconds_bucket", (("le", le), *route))]

    assert (bucket("0.0025"), bucket("0.005"), bucket("10.0"), bucket("+Inf")) == (0, 1, 1, 2)
    assert samples[("semsearch_http_request_duration_seconds_count", route)] == 2
    assert samples[("semsearch_http_request_duration_seconds_sum", route)] == pytest.approx(20.003)
    assert samples[("semsearch_upstream_requests_total", ())] == 0
    assert "# TYPE semsearch_upstream_retries_total counter" in text  # declared, not yet counted


def test_value_reads_one_label_set() -> None:
    metrics = Metrics()
    metrics.upstream_retries.inc(reason="429")
    metrics.upstream_retries.inc(2, reason="timeout")
    assert metrics.upstream_retries.value(reason="timeout") == 2
    assert metrics.upstream_retries.value(reason="connect") == 0
    assert metrics.cache_misses.value() == 0


def test_labels_must_be_the_declared_ones() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match=r"takes labels \(reason\)"):
        metrics.upstream_retries.inc(kind="x")
    with pytest.raises(ValueError, match=r"takes labels \(\), got \(model\)"):
        metrics.cache_hits.inc(model="m")


def test_two_instances_count_apart() -> None:
    one, two = Metrics(), Metrics()
    one.cache_hits.inc()
    assert (one.cache_hits.value(), two.cache_hits.value()) == (1, 0)


def test_content_negotiation() -> None:
    metrics = Metrics()
    body, content_type = metrics.exposition(None)
    assert content_type == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert body.decode() == metrics.render()
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().endswith("# EOF\n")
