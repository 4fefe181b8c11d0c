"""JobQueue: one job at a time, in order; cancel reaches the running job; a crash does not stop
the queue; closing hands the running job back to be re-queued."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.jobs import JobQueue


class Recorder:
    """A kind of job whose runs take ``seconds`` (or raise, for ids starting with "crash")."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.log: list[str] = []
        self.running = 0
        self.most = 0

    async def run(self, job_id: str, cancel: threading.Event) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            self.log.append(f"start {job_id}")
            if job_id.startswith("crash"):
                raise RuntimeError("boom")
            for _ in range(int(self.seconds / 0.01)):
                if cancel.is_set():
                    self.log.append(f"cancelled {job_id}")
                    return
                await asyncio.sleep(0.01)
            self.log.append(f"done {job_id}")
        finally:
            self.running -= 1

    async def requeue(self, job_id: str) -> None:
        self.log.append(f"requeue {job_id}")

    async def crashed(self, job_id: str) -> None:
        self.log.append(f"crashed {job_id}")


async def wait_for(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def test_jobs_run_one_at_a_time_in_order_and_a_crash_does_not_stop_the_queue() -> None:
    async def scenario() -> Recorder:
        work = Recorder(seconds=0.03)
        queue = JobQueue(work, name="test")
        queue.start(["a", "crash-b"])
        queue.put("c")
        await wait_for(lambda: "done c" in work.log)
        await queue.aclose()
        return work

    work = asyncio.run(scenario())
    assert work.log == [
        "start a",
        "done a",
        "start crash-b",
        "crashed crash-b",
        "start c",
        "done c",
    ]
    assert work.most == 1


def test_cancel_reaches_only_the_running_job() -> None:
    async def scenario() -> Recorder:
        work = Recorder(seconds=2.0)
        queue = JobQueue(work, name="test")
        queue.start(["a"])
        await wait_for(lambda: queue.current == "a")
        queue.cancel("b")  # not running: nothing happens
        assert not queue.cancel_event.is_set()
        queue.cancel("a")
        await wait_for(lambda: "cancelled a" in work.log)
        await queue.aclose()
        return work

    assert asyncio.run(scenario()).log == ["start a", "cancelled a"]


def test_closing_hands_the_running_job_back_and_cancels_spawned_work() -> None:
    async def scenario() -> tuple[Recorder, list[str]]:
        work = Recorder(seconds=5.0)
        queue = JobQueue(work, name="test")
        queue.start(["a"])
        spawned: list[str] = []

        async def validation() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                spawned.append("cancelled")
                raise

        queue.spawn(validation())
        await wait_for(lambda: queue.current == "a")
        await queue.aclose()
        assert queue.closing and queue.cancel_event.is_set()
        return work, spawned

    work, spawned = asyncio.run(scenario())
    # The running job is cancelled and handed back to be re-queued; the spawned task is
    # cancelled with the queue.
    assert work.log == ["start a", "requeue a"]
    assert spawned == ["cancelled"]


@pytest.mark.parametrize("queued", [pytest.param([], id="empty"), pytest.param(["x"], id="one")])
def test_aclose_without_work_in_flight_returns(queued: list[str]) -> None:
    async def scenario() -> None:
        queue = JobQueue(Recorder(), name="test")
        queue.start(queued)
        await asyncio.sleep(0.02)
        await queue.aclose()

    asyncio.run(scenario())
