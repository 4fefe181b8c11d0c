"""Run records and tables: what every run writes, whatever it measured."""

from __future__ import annotations

from pathlib import Path

import msgspec

from benchmarks.harness.report import machine_info, markdown_table, write_record
from benchmarks.harness.schemas import AnnPoint, AnnRun, AnyRun


def test_markdown_table_aligns_numbers_and_formats_floats() -> None:
    table = markdown_table(["name", "n", "score"], [["a", 3, 0.12345], ["b", None, 12345.6]])
    assert table.splitlines() == [
        "| name | n | score |",
        "| --- | ---: | ---: |",
        "| a | 3 | 0.123 |",
        "| b | – | 12,346 |",
    ]


def test_record_round_trip_with_machine_info(tmp_path: Path) -> None:
    machine = machine_info()
    assert machine.cpu_count and machine.python.count(".") == 2
    assert {"numpy", "hnswlib", "msgspec", "httpx"} <= set(machine.packages)
    point = AnnPoint(
        index="hnswlib", m=16, ef_construction=200, ef=64, recall_at_10=0.97, qps=3000.0,
        p50_ms=0.3, p99_ms=0.5, build_seconds=1.0,
    )  # fmt: skip
    run = AnnRun(
        started_at="2026-01-01T00:00:00+00:00", seconds=1.5, command=["semsearch", "bench"],
        params={"ef": [64]}, machine=machine, source="x.npy", documents=10, queries=2,
        dimensions=4, points=[point],
    )  # fmt: skip
    path = write_record(run, tmp_path / "out", "ann-x")
    assert path == tmp_path / "out" / "ann-x.json"
    raw = msgspec.json.decode(path.read_bytes())
    assert raw["kind"] == "ann" and raw["machine"]["cpu_count"] == machine.cpu_count
    assert msgspec.json.decode(path.read_bytes(), type=AnyRun) == run
