"""Batch store and output files: progress committed with the counts, cut back after a crash,
restarts resume (and give up only when no chunk was committed between them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from service.batches.output import PartFile, line_ids
from service.batches.schemas import Batch, BatchRequestCounts, OutputLine
from service.batches.store import BatchStore, Progress, new_batch_id
from service.jobs import MAX_ATTEMPTS


def make_batch(status: str = "in_progress") -> Batch:
    return Batch(
        id=new_batch_id(),
        endpoint="/v1/embeddings",
        input_file_id="file-in",
        completion_window="24h",
        status=status,  # type: ignore[arg-type]
        created_at=int(time.time()),
        expires_at=None,
        request_counts=BatchRequestCounts(total=10),
    )


def test_a_chunk_commits_progress_counts_and_usage_together(tmp_path: Path) -> None:
    store = BatchStore.open(tmp_path / "batches.sqlite3")
    batch = make_batch()
    store.insert_local(batch, Progress(output_file_id="file-o", error_file_id="file-e"))
    step = Progress(10, 4, 300, 90, "file-o", "file-e")
    assert store.commit_chunk(batch.id, step, completed=3, failed=1, tokens=12) == "in_progress"
    store.commit_chunk(batch.id, step, completed=2, failed=0, tokens=8)
    saved = store.body(batch.id)
    assert (saved.request_counts.completed, saved.request_counts.failed) == (5, 1)
    assert saved.usage is not None and saved.usage.input_tokens == 20
    assert store.progress(batch.id) == step
    store.close()


def test_restarts_resume_and_give_up_only_without_progress(tmp_path: Path) -> None:
    path = tmp_path / "batches.sqlite3"
    store = BatchStore.open(path)
    batch = make_batch()
    store.insert_local(batch, Progress(output_file_id="o", error_file_id="e"))
    waiting = make_batch("validating")
    store.insert_local(waiting, Progress(output_file_id="o2", error_file_id="e2"))
    store.insert(make_batch("in_progress"), kind="upstream", upstream_id="batch_up")
    store.close()
    for _ in range(MAX_ATTEMPTS - 1):
        store = BatchStore.open(path)
        assert store.recover() == [batch.id, waiting.id]
        assert store.body(batch.id).status == "in_progress"  # resumed as it was
        store.close()
    store = BatchStore.open(path)
    store.commit_chunk(batch.id, Progress(1, 1, 0, 0, "o", "e"), completed=1, failed=0, tokens=1)
    store.close()
    for _ in range(MAX_ATTEMPTS - 1):  # the commit counted as progress: attempts start over
        store = BatchStore.open(path)
        assert batch.id in store.recover()
        store.close()
    store = BatchStore.open(path)
    assert store.recover() == [waiting.id]
    failed = store.body(batch.id)
    assert failed.status == "failed" and failed.failed_at
    assert failed.errors is not None and failed.errors.data[0].code == "interrupted"
    events, _ = store.events(batch.id, limit=20, after=None)
    assert events[0].level == "error"
    store.close()


def test_a_part_file_is_cut_back_to_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "b.output.jsonl"
    lines = [OutputLine(id=line_ids("b", i)[0], custom_id=f"c{i}", response=None) for i in range(3)]
    part = PartFile(path, 0)
    part.append(lines[:2])
    committed = part.size
    part.append(lines[2:])  # written and fsynced, but the crash comes before the commit
    part.close()
    again = PartFile(path, committed)
    again.append(lines[2:])  # the rerun chunk writes it again
    again.close()
    written = [json.loads(x)["custom_id"] for x in path.read_text().splitlines()]
    assert written == ["c0", "c1", "c2"]


def test_line_ids_are_stable_and_distinct() -> None:
    assert line_ids("batch_a", 1) == line_ids("batch_a", 1)
    assert len({line_ids("batch_a", i)[0] for i in range(1000)}) == 1000
    assert line_ids("batch_a", 1)[0].startswith("batch_req_")
    assert line_ids("batch_a", 1)[1].startswith("req_")
