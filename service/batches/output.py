"""A local batch's output and error files while it runs: lines appended, then committed.

Each chunk of requests appends its lines and fsyncs; only then does the store record the new
sizes (with the input offset and the counts, in one transaction). Reopened after a crash, a
file is cut back to its recorded size, so lines written after the last commit are dropped and
written again by the rerun chunk: every request ends up in the files exactly once. When the
batch ends, ``FileStore.adopt`` makes the files Files API files (purpose ``batch_output``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from service.batches.schemas import OutputLine, json_encoder


def line_ids(batch_id: str, line: int) -> tuple[str, str]:
    """``(id, request_id)`` of an input line's answer: derived, so a rerun writes the same."""
    digest = hashlib.sha256(f"{batch_id}:{line}".encode()).hexdigest()
    return f"batch_req_{digest[:32]}", f"req_{digest[32:64]}"


class PartFile:
    """One growing JSONL file, cut back to ``committed`` bytes when opened."""

    def __init__(self, path: Path, committed: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = path.open("ab")
        self._file.truncate(committed)
        self._file.seek(committed)
        self.size = committed

    def append(self, lines: list[OutputLine]) -> None:
        """Write and fsync ``lines``; blocking (run it off the event loop)."""
        if not lines:
            return
        data = b"".join(json_encoder.encode(line) + b"\n" for line in lines)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.size += len(data)

    def close(self) -> None:
        self._file.close()
