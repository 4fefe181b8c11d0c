"""Smoke runs of ``semsearch bench quality|ann|load`` on the tiny fixture, each a few seconds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest

from benchmarks.harness.schemas import AnnRun, AnyRun, LoadRun, QualityRun
from service.cli import main
from service.testing import ServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = str(REPO_ROOT / "tests" / "fixtures" / "tiny_beir")
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _record(output: Path, kind: str) -> AnyRun:
    [path] = output.glob(f"{kind}-*.json")
    return msgspec.json.decode(path.read_bytes(), type=AnyRun)


def test_quality_smoke(
    tmp_path: Path, clean_environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "quality", "--dataset", TINY, "--dimensions", "64", "--dimensions", "256"]
    argv += ["--typos", "3"]
    assert main([*argv, "--upstream", "self", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| system | model | dims |" in out and "embedding cache" in out
    assert "| hybrid (default) | as written |" in out and "| typos 3 |" in out
    run = _record(tmp_path, "quality")
    assert isinstance(run, QualityRun)
    assert (run.documents, run.skipped_documents, run.queries) == (11, ["d8"], 3)
    # The collection's default first (hybrid), then one row per /query mode (issue 11), each
    # on the queries as written and on the misspelt ones.
    rows = [r for r in run.rows if r.system == "service" and r.dimensions == 256]
    assert [(r.mode, r.default, r.typos) for r in rows] == [
        (mode, default, typos)
        for mode, default in (
            ("hybrid", True),
            ("vector", False),
            ("lexical", False),
            ("hybrid", False),
        )
        for typos in (None, 3)
    ]
    expected: list[tuple[str, int | None]] = []
    for d in (64, 256):
        expected += [("service", d)] * len(rows) + [("exact", d)]
    assert [(r.system, r.dimensions) for r in run.rows] == [*expected, ("bm25", None)]
    for row in run.rows:
        assert set(row.metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert 0 < row.metrics["ndcg@10"] <= 1
    vector = next(r for r in run.rows if r.system == "service" and r.mode in (None, "vector"))
    exact = next(r for r in run.rows if r.system == "exact")
    assert vector.overlap_at_10 == 1.0  # 11 documents: the index is exact
    assert vector.metrics == pytest.approx(exact.metrics)
    assert all(r.overlap_at_10 is None for r in run.rows if r.mode in ("lexical", "hybrid"))
    assert run.cache is not None and run.cache.cache_hits is not None
    assert run.cache.cache_misses == run.cache.cache_hits > 0
    assert run.machine.cpu_count and run.machine.packages["numpy"]
    assert run.params["dimensions"] == [64, 256] and "api_key" not in run.params


def test_quality_one_row_set_per_passage_setting(
    tmp_path: Path, clean_environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "quality", "--dataset", TINY, "--mode", "vector", "--output", str(tmp_path)]
    assert main([*argv, "--passages", "off", "--passages", "16/4"]) == 0
    assert "| passages |" in capsys.readouterr().out
    run = _record(tmp_path, "quality")
    assert isinstance(run, QualityRun)
    assert [(r.system, r.passages) for r in run.rows] == [
        ("service", "off"),
        ("exact", "off"),
        ("service", "16/4"),  # split documents: no exact ranking of one vector each
        ("bm25", None),
    ]
    assert all(0 < r.metrics["ndcg@10"] <= 1 for r in run.rows)
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        main(["bench", "quality", "--dataset", TINY, "--passages", "big"])
    assert exited.value.code == 2
    assert "expected SIZE/OVERLAP or off" in capsys.readouterr().err


def test_quality_reports_service_errors(
    tmp_path: Path, clean_environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "quality", "--dataset", TINY, "--output", str(tmp_path)]
    assert main([*argv, "--model", "no-such-model"]) == 1
    assert "semsearch bench quality: HTTP 404" in capsys.readouterr().err


def test_ann_smoke_on_dataset(
    tmp_path: Path, clean_environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "ann", "--dataset", TINY, "--ef", "4,16", "--output", str(tmp_path)]
    assert main(argv) == 0
    assert "| index | M | ef | recall@10 |" in capsys.readouterr().out
    run = _record(tmp_path, "ann")
    assert isinstance(run, AnnRun)
    assert (run.documents, run.queries, run.dimensions) == (11, 3, 256)
    assert [(p.index, p.ef) for p in run.points] == [
        ("semsearch", 4), ("semsearch", 16), ("hnswlib", 4), ("hnswlib", 16),
    ]  # fmt: skip
    assert all(p.recall_at_10 == 1.0 and p.qps > 0 for p in run.points)
    assert len(list(tmp_path.glob("ann-*-recall-qps.png"))) == int(HAS_MATPLOTLIB)


def test_ann_smoke_on_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    np.save(tmp_path / "v.npy", rng.normal(size=(300, 16)).astype(np.float32))
    argv = ["bench", "ann", "--vectors", str(tmp_path / "v.npy"), "--queries", "20"]
    argv += ["--ef", "8,64", "--m", "4,8", "--no-plots", "--output", str(tmp_path / "out")]
    assert main(argv) == 0
    run = _record(tmp_path / "out", "ann")
    assert (run.documents, run.queries, run.dimensions) == (280, 20, 16)
    assert {(p.index, p.m) for p in run.points} == {
        ("semsearch", 4), ("semsearch", 8), ("hnswlib", 4), ("hnswlib", 8),
    }  # fmt: skip
    assert all(p.recall_at_10 > 0.5 for p in run.points if p.ef == 64)


def test_load_smoke_against_url(
    tmp_path: Path,
    start_server: Callable[..., ServerProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start_server()
    argv = ["bench", "load", "--url", server.url, "--collection", "tiny", "--dataset", TINY]
    argv += ["--concurrency", "1,3", "--duration", "0.5", "--max-requests", "200"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    assert "| concurrency | requests |" in capsys.readouterr().out
    run = _record(tmp_path, "load")
    assert isinstance(run, LoadRun)
    assert run.ingest is not None and run.ingest.documents == 11
    assert [level.concurrency for level in run.levels] == [1, 3]
    for level in run.levels:
        assert 0 < level.requests <= 200 and level.errors == 0
        assert level.p50_ms <= level.p95_ms <= level.p99_ms
        assert len(level.latency_quantiles_ms) == 1001
    assert len(list(tmp_path.glob("load-*-latency.png"))) == int(HAS_MATPLOTLIB)
    # Without --dataset it queries an existing collection with its stored texts, per mode.
    argv = ["bench", "load", "--url", server.url, "--collection", "tiny", "--no-plots"]
    argv += ["--concurrency", "2", "--duration", "0.3", "--output", str(tmp_path / "again")]
    assert main([*argv, "--mode", "vector", "--mode", "lexical"]) == 0
    again = _record(tmp_path / "again", "load")
    assert isinstance(again, LoadRun) and again.ingest is None
    assert [(v.mode, v.concurrency) for v in again.levels] == [("vector", 2), ("lexical", 2)]
    assert all(v.requests > 0 and v.errors == 0 for v in again.levels)


def test_serve_never_imports_the_harness() -> None:
    code = (
        "import sys; from service.cli import build_parser; build_parser(); "
        "bad = [m for m in sys.modules if m.startswith(('benchmarks', 'matplotlib'))]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr
