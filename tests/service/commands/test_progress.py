"""The one-line progress bar shared by ``semsearch ingest`` and ``semsearch bench``."""

from __future__ import annotations

import io

from service.commands.progress import Progress


def test_progress_prints_one_line_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("ingest", total=10, stream=stream) as bar:
        for _ in range(10):
            bar.update()
    assert stream.getvalue().count("\n") == 1
    assert stream.getvalue().startswith("ingest [########################] 10/10")
