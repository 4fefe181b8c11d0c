"""Pins the public surface of ``service.jobs``, ``service.batches`` and ``service.proxy``."""

import service.batches as batches
import service.jobs as jobs
import service.proxy as proxy


def test_all() -> None:
    assert sorted(jobs.__all__) == [
        "JobQueue",
        "JobTable",
        "Kind",
        "Level",
        "MAX_ATTEMPTS",
        "UpstreamFiles",
        "Work",
        "schema",
    ]
    assert sorted(batches.__all__) == ["BatchRunner", "BatchService", "BatchStore"]
    assert sorted(proxy.__all__) == ["Forwarder", "open_client", "route_label"]
