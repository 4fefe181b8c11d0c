"""``semsearch ingest`` and ``semsearch query`` as a user runs them, against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.testing import clean_env
from tests.e2e.search_client import Search

FIXTURE = Path(__file__).parents[1] / "fixtures" / "scifact_small" / "corpus.jsonl"


def semsearch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(env),
    )


def test_ingest_a_beir_corpus_then_query(start_server) -> None:
    server = start_server()
    done = semsearch(
        "ingest",
        str(FIXTURE),
        "--collection",
        "sf",
        "--create",
        "--batch",
        "100",
        "--url",
        server.url,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert f"ingested {len(lines):,} documents into 'sf'" in done.stdout
    api = Search(server.url)
    assert api.ok("GET", "/collections/sf")["count"] == len(lines)
    first = lines[0]
    doc = api.ok("GET", f"/collections/sf/documents/{first['_id']}")
    assert doc["text"] == f"{first['title']} {first['text']}".strip()
    assert doc["metadata"]["title"] == first["title"]

    shown = semsearch("query", "sf", first["title"], "-k", "3", "--url", server.url)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines()[2:] if line[:3].strip().isdigit()]
    expected = api.query("sf", query=first["title"], k=3)["data"]
    assert len(rows) == 3
    assert [row.split()[2] for row in rows] == [h["id"] for h in expected]
    assert float(rows[0].split()[1]) == round(expected[0]["score"], 4)
    # Whole texts, wrapped: every word of each hit's text is shown, no line is cut.
    assert " ".join(shown.stdout.split()).count(" ".join(expected[0]["text"].split())) == 1
    assert "…" not in shown.stdout

    raw = semsearch(
        "query",
        "sf",
        "x",
        "-k",
        "2",
        "--json",
        "--where",
        json.dumps({"title": first["title"]}),
        "--url",
        server.url,
    )
    assert [h["id"] for h in json.loads(raw.stdout)["data"]] == [first["_id"]]

    for mode, alpha in (("lexical", None), ("hybrid", "0.8"), ("vector", None)):
        options = ["--mode", mode] + (["--alpha", alpha] if alpha else [])
        shown = semsearch("query", "sf", first["title"], "--json", *options, "--url", server.url)
        answer = json.loads(shown.stdout)
        asked: dict[str, object] = {"mode": mode}
        if alpha:
            asked["alpha"] = float(alpha)
        expected = api.query("sf", query=first["title"], **asked)
        assert answer["mode"] == mode
        assert [h["id"] for h in answer["data"]] == [h["id"] for h in expected["data"]]
    refused = semsearch(
        "query", "sf", "x", "--mode", "lexical", "--alpha", "0.5", "--url", server.url
    )
    assert refused.returncode == 1 and "alpha applies to mode 'hybrid' only" in refused.stderr
    api.close()


def test_ingest_csv_and_a_directory(start_server, tmp_path: Path) -> None:
    server = start_server()
    csv_file = tmp_path / "notes.csv"
    csv_file.write_text("id,title,text,lang\nn1,First,hello there,en\nn2,,,en\nn3,,bonjour,fr\n")
    done = semsearch("ingest", str(csv_file), "-c", "notes", "--create", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert "ingested 2 documents" in done.stdout and "(1 empty skipped)" in done.stdout
    api = Search(server.url)
    assert api.ok("GET", "/collections/notes/documents/n1")["metadata"] == {
        "lang": "en",
        "title": "First",
    }
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Alpha\nsome markdown")
    (folder / "sub" / "b.txt").write_text("plain text")
    (folder / "ignored.bin").write_bytes(b"\0")
    done = semsearch("ingest", str(folder), "-c", "files", "--create", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert api.ids("files") == ["a.md", "sub/b.txt"]
    # One text file is one document, however many lines (or braces) it has.
    note = folder / "note.md"
    note.write_text('# A note\n{"not": "json"}\n\nsecond paragraph\n')
    done = semsearch("ingest", str(note), "-c", "one", "--create", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert api.ids("one") == ["note.md"]
    doc = api.ok("GET", "/collections/one/documents/note.md")
    assert doc["text"] == note.read_text().strip() and doc["metadata"] == {"path": "note.md"}
    api.close()


def test_ingest_reports_bad_input_and_rejections(start_server, tmp_path: Path) -> None:
    server = start_server()
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('{"id": "a", "text": "fine"}\n{broken\n')
    done = semsearch("ingest", str(bad_line), "-c", "c", "--create", "--url", server.url)
    assert done.returncode == 1 and "bad.jsonl:2: not valid JSON" in done.stderr
    rejected = tmp_path / "rejected.jsonl"
    rejected.write_text(
        '{"id": "ok", "text": "fine"}\n{"id": "deep", "text": "x", "metadata": {"a": {"b": 1}}}\n'
    )
    done = semsearch("ingest", str(rejected), "-c", "c", "--url", server.url)
    assert done.returncode == 1 and "document 'deep' rejected" in done.stderr
    missing = semsearch("ingest", str(rejected), "-c", "absent", "--url", server.url)
    assert missing.returncode == 1
    assert "no collection 'absent'" in missing.stderr and "--create" in missing.stderr
    nowhere = semsearch("query", "c", "x", "--url", "http://127.0.0.1:9")
    assert nowhere.returncode == 1 and "cannot reach" in nowhere.stderr
    assert "semsearch serve" in nowhere.stderr
    assert nowhere.stderr.startswith("semsearch query: cannot reach http://127.0.0.1:9 (")


def test_commands_use_the_api_key(start_server, tmp_path: Path) -> None:
    server = start_server(env={"SEMSEARCH_API_KEYS": "sekrit"})
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "guarded text"}\n')
    denied = semsearch("ingest", str(corpus), "-c", "g", "--create", "--url", server.url)
    assert denied.returncode == 1 and "401" in denied.stderr
    done = semsearch(
        "ingest",
        str(corpus),
        "-c",
        "g",
        "--create",
        "--url",
        server.url,
        env={"SEMSEARCH_API_KEY": "sekrit"},
    )
    assert done.returncode == 0, done.stderr
    found = semsearch("query", "g", "guarded", "--api-key", "sekrit", "--url", server.url)
    assert found.returncode == 0 and " a " in found.stdout


def test_ingest_a_corpus_with_texts_over_the_model_limit(start_server, tmp_path: Path) -> None:
    """Issue 12: a long text becomes passages instead of stopping the run."""
    server = start_server()
    corpus = tmp_path / "long.jsonl"
    report = " ".join(f"Finding {i}: the bridge over the river needs repair." for i in range(1500))
    lines = [
        {"_id": "report", "title": "Annual report", "text": report},
        {"_id": "memo", "title": "", "text": "lunch is at noon"},
    ]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    off = semsearch(
        "ingest", str(corpus), "-c", "off", "--create", "--passages", "off", "--url", server.url
    )
    assert off.returncode == 1 and "document 'report' rejected" in off.stderr
    assert "takes at most 8192" in off.stderr
    done = semsearch("ingest", str(corpus), "-c", "long", "--create", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert "ingested 2 documents into 'long'" in done.stdout
    api = Search(server.url)
    assert api.ok("GET", "/collections/long")["passages"] is not None
    hits = api.query("long", query="bridge repair", k=1, include=["passages"])["data"]
    assert hits[0]["id"] == "report" and "bridge" in hits[0]["passages"][0]["text"]
    sized = semsearch(
        "ingest",
        str(corpus),
        "-c",
        "sized",
        "--create",
        "--passages",
        "512/64",
        "--url",
        server.url,
    )
    assert sized.returncode == 0, sized.stderr
    assert api.ok("GET", "/collections/sized")["passages"] == {"size": 512, "overlap": 64}
    bad = semsearch(
        "ingest", str(corpus), "-c", "bad", "--create", "--passages", "8/9", "--url", server.url
    )
    assert bad.returncode == 1 and "passages" in bad.stderr
    api.close()
