from service.metrics import Metrics


def test_render_counters_and_histograms() -> None:
    metrics = Metrics()
    metrics.cache_hits.inc(3)
    metrics.embedding_tokens.inc(7, model="m", provider="local")
    metrics.http_duration.observe(0.003, method="GET", route='/a"b')
    metrics.http_duration.observe(20.0, method="GET", route='/a"b')
    text = metrics.render()
    assert "# TYPE semsearch_embedding_cache_hits_total counter" in text
    assert "semsearch_embedding_cache_hits_total 3\n" in text
    assert 'semsearch_embedding_tokens_total{model="m",provider="local"} 7' in text
    labels = 'method="GET",route="/a\\"b"'
    assert f'semsearch_http_request_duration_seconds_bucket{{{labels},le="0.0025"}} 0' in text
    assert f'semsearch_http_request_duration_seconds_bucket{{{labels},le="0.005"}} 1' in text
    assert f'semsearch_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} 2' in text
    assert f"semsearch_http_request_duration_seconds_count{{{labels}}} 2" in text
    assert "semsearch_upstream_retries_total 0" in text
