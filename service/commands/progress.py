"""A tiny progress bar on stderr, so long steps show they are alive without a dependency.

Usage::

    with Progress("ingest", total=len(docs)) as bar:
        for batch in batches:
            ...
            bar.update(len(batch))

On a terminal it redraws one line at most ten times a second; otherwise (CI logs, pytest) it
prints a single summary line when the step ends, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = time.perf_counter()
        self._drawn = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self.stream.write("\r" + self._line(now) + "\x1b[K")
            self.stream.flush()

    def _line(self, now: float) -> str:
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            width = 24
            filled = int(width * min(self.done / self.total, 1.0))
            bar = "#" * filled + "." * (width - filled)
            return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {rate:,.0f}/s"
        return f"{self.label} {self.done} {elapsed:5.1f}s {rate:,.0f}/s"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        line = self._line(time.perf_counter())
        self.stream.write(("\r" + line + "\x1b[K\n") if self.live else line + "\n")
        self.stream.flush()
