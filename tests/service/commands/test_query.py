"""``semsearch query``'s table: whole texts, wrapped to the width, never cut."""

from __future__ import annotations

from service.commands.query import format_table

LONG = " ".join(f"word{i}" for i in range(60))


def test_long_texts_wrap_under_their_column() -> None:
    hits = [
        {"id": "doc-1", "score": 0.91234, "text": LONG},
        {"id": "doc-22", "score": 0.5, "text": "short\n  text"},
    ]
    table = format_table(hits, width=80)
    lines = table.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[2].startswith("  1   0.9123  doc-1 ")
    column = lines[2].index("word0")
    continued = lines[3 : lines.index("")]
    assert len(continued) >= 4 and all(line[:column].isspace() for line in continued)
    assert " ".join(table.split()).count(LONG) == 1  # every word, in order
    assert lines[-1].split() == ["2", "0.5000", "doc-22", "short", "text"]
    assert "…" not in table


def test_no_results() -> None:
    assert format_table([], width=80) == "no results"
