"""Progress of a long step on stderr, drawn by ``rich`` on a terminal.

Usage::

    with Progress("ingest", total=len(docs)) as bar:
        for batch in batches:
            ...
            bar.update(len(batch))

On a terminal: a live bar with the count, the percentage, the rate and the time left when the
total is known (a spinner with the count and rate when it is not). Elsewhere (CI logs, pipes,
pytest) nothing is drawn while the step runs and one clean line is printed when it ends, such as
``ingest sf: 5,183/5,183 (100%) in 12.3 s, 421/s``, so logs stay short and greppable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Items per second (rich's own speed columns count bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed  # rich's recent-window rate
        if speed is None and task.elapsed:
            speed = task.completed / task.elapsed
        return Text("–/s" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


class Progress:
    """One step's progress; ``live`` forces (or forbids) drawing, else the stream decides."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        live: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        self._started = time.perf_counter()
        self._bar: RichProgress | None = None
        self._task = None
        if self.live:
            console = Console(file=self.stream, force_terminal=True)
            self._bar = RichProgress(*_columns(total is not None), console=console)
            self._task = self._bar.add_task(label, total=total)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def summary(self) -> str:
        """The line printed at the end when not drawing live."""
        elapsed = time.perf_counter() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done:,}"
        if self.total:
            count += f"/{self.total:,} ({100 * self.done / self.total:.0f}%)"
        return f"{self.label}: {count} in {elapsed:.1f} s, {rate:,.0f}/s"

    def __enter__(self) -> Progress:
        self._started = time.perf_counter()
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()  # leaves the final state of the bar on screen
            return
        self.stream.write(self.summary() + "\n")
        self.stream.flush()


def _columns(known_total: bool) -> list[ProgressColumn]:
    label = TextColumn("[progress.description]{task.description}")
    if known_total:
        return [
            label,
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ]
    return [
        SpinnerColumn(),
        label,
        TextColumn("{task.completed:,.0f}"),
        _RateColumn(),
        TimeElapsedColumn(),
    ]


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
