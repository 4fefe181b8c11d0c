"""``service/sources.py``: what ``semsearch ingest`` (and the console, which mirrors it) reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.sources import count_documents, read_documents


def test_a_csv_saved_by_a_spreadsheet_keeps_its_first_column(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes("\ufeffid,text,lang\r\nn1,hello,en\r\n".encode())
    assert list(read_documents(path)) == [{"id": "n1", "text": "hello", "metadata": {"lang": "en"}}]


def test_one_text_file_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text('# Note\n\n{"not": "json"}\n')
    assert list(read_documents(path)) == [
        {"id": "note.md", "text": '# Note\n\n{"not": "json"}', "metadata": {"path": "note.md"}}
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param("a.jsonl", '{"id": 1, "text": "x"}\n\n{"id": 2, "text": ""}\n', 2, id="jsonl"),
        pytest.param("a.csv", 'id,text\n1,"two\nlines"\n\n2,y\n', 2, id="csv"),
        pytest.param("a.txt", "anything\n\nat all", 1, id="text"),
    ],
)
def test_count_documents_matches_what_is_read(
    tmp_path: Path, name: str, content: str, expected: int
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert count_documents(path) == expected == len(list(read_documents(path)))


def test_count_documents_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.md", "sub/b.txt", "c.bin"):
        (tmp_path / name).write_text("x")
    assert count_documents(tmp_path) == 2 == len(list(read_documents(tmp_path)))
