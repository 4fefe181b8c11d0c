"""A one-line progress bar on stderr, for long CLI steps (no dependency needed)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream
        self.started = time.perf_counter()
        self._last = 0.0
        self._live = stream.isatty()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self._live and now - self._last > 0.1:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {self.done:,} ({rate:,.0f}/s)"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        if self._live:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
