"""Job store: restart recovery, compare-and-set transitions, newest-first pages."""

from __future__ import annotations

import time
from pathlib import Path

from service.finetune.schemas import FineTuningJob
from service.finetune.store import MAX_ATTEMPTS, JobStore, new_job_id


def make_job(status: str = "queued") -> FineTuningJob:
    return FineTuningJob(
        id=new_job_id(),
        created_at=int(time.time()),
        error=None,
        fine_tuned_model=None,
        finished_at=None,
        hyperparameters={"n_epochs": "auto"},
        model="wordllama-l2-supercat",
        organization_id="org-semsearch",
        result_files=[],
        status=status,  # type: ignore[arg-type]
        trained_tokens=None,
        training_file="file-x",
        validation_file=None,
        seed=1,
    )


def test_running_job_is_requeued_on_reopen_then_failed_after_max_attempts(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore.open(path)
    job = make_job("running")
    store.insert(job, kind="local")
    store.close()
    for _ in range(1, MAX_ATTEMPTS):
        store = JobStore.open(path)
        assert store.recover() == [job.id]
        assert store.get(job.id).job.status == "queued"
        store.transition(job.id, ("queued",), lambda j: setattr(j, "status", "running"))
        store.close()
    store = JobStore.open(path)
    assert store.recover() == []
    record = store.get(job.id)
    assert record.job.status == "failed" and record.attempts == MAX_ATTEMPTS
    assert record.job.error is not None and "interrupted" in record.job.error.message
    events, _ = store.events(job.id, limit=10, after=None)
    assert events[0].level == "error"
    assert sum("re-queued" in e.message for e in events) == MAX_ATTEMPTS - 1
    store.close()


def test_upstream_and_terminal_jobs_are_left_alone(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    upstream = make_job("running")
    done = make_job("succeeded")
    store.insert(upstream, kind="upstream", upstream_id="ftjob-up")
    store.insert(done, kind="local")
    assert store.recover() == []
    assert store.get(upstream.id).job.status == "running"
    store.close()


def test_transition_is_compare_and_set(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    job = make_job("running")
    store.insert(job, kind="local")
    assert store.transition(job.id, ("running",), lambda j: setattr(j, "status", "cancelled"))
    assert store.transition(job.id, ("running",), lambda j: setattr(j, "status", "failed")) is None
    assert store.get(job.id).job.status == "cancelled"
    store.close()


def test_jobs_and_events_page_newest_first(tmp_path: Path) -> None:
    store = JobStore.open(tmp_path / "jobs.sqlite3")
    jobs = [make_job() for _ in range(5)]
    for job in jobs:
        store.insert(job, kind="local")
    page, more = store.list_page(limit=2, after=None)
    assert [r.job.id for r in page] == [jobs[4].id, jobs[3].id] and more
    page, more = store.list_page(limit=3, after=jobs[3].id)
    assert [r.job.id for r in page] == [jobs[2].id, jobs[1].id, jobs[0].id] and not more
    for i in range(4):
        store.add_event(jobs[0].id, f"event {i}")
    events, more = store.events(jobs[0].id, limit=3, after=None)
    assert [e.message for e in events] == ["event 3", "event 2", "event 1"] and more
    events, more = store.events(jobs[0].id, limit=3, after=events[-1].id)
    assert [e.message for e in events] == ["event 0"] and not more
    store.close()
