"""The progress display shared by ``semsearch ingest`` and ``semsearch bench``."""

from __future__ import annotations

import io
import re

from service.commands.progress import Progress


def test_one_clean_line_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("ingest sf", total=10, stream=stream) as bar:
        for _ in range(10):
            bar.update()
    assert stream.getvalue().count("\n") == 1
    assert re.fullmatch(r"ingest sf: 10/10 \(100%\) in \d+\.\d s, [\d,]+/s\n", stream.getvalue())
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()


def test_one_line_without_a_total() -> None:
    stream = io.StringIO()
    with Progress("queries", stream=stream) as bar:
        bar.update(1234)
    assert re.fullmatch(r"queries: 1,234 in \d+\.\d s, [\d,]+/s\n", stream.getvalue())


def test_a_terminal_gets_a_bar_with_percentage_rate_and_eta() -> None:
    stream = io.StringIO()
    with Progress("ingest sf", total=200, stream=stream, live=True) as bar:
        for _ in range(4):
            bar.update(25)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # without colours
    last = shown.strip().splitlines()[-1]
    assert "ingest sf" in last and "100/200" in last and "50%" in last
    assert re.search(r"[\d,]+/s", last) and "ETA" in last
    assert "━" in last  # the bar itself


def test_a_terminal_without_a_total_counts_and_rates() -> None:
    stream = io.StringIO()
    with Progress("queries", stream=stream, live=True) as bar:
        bar.update(42)
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue()).strip().splitlines()[-1]
    assert "queries" in last and "42" in last and re.search(r"[\d,]+/s", last)
