"""The console's JavaScript logic, run in the real browser against Python's own answers.

Each test imports one of the console's modules into a page of the running server and calls it
(``page.evaluate``), so what is tested is the file the server serves, in the browser that runs
it. The ingest parser must read a file exactly as ``semsearch ingest`` does
(``service/sources.py``); the dashboard's quantiles must be Prometheus's ``histogram_quantile``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.console import asset_digest
from service.sources import SourceError, read_documents
from service.testing import ServerProcess, clean_env
from tests.e2e.browser import Visit, chromium, open_page

browser = pytest.fixture(scope="module")(chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("modules") / "data", env=clean_env()) as running:
        yield running


@pytest.fixture(scope="module")
def visit(browser, server: ServerProcess, tmp_path_factory) -> Iterator[Visit]:
    page = open_page(browser, server.url, tmp_path_factory.mktemp("shots"))
    page.goto("/").wait_for_selector("#panel-collections")
    yield page
    page.page.context.close()
    assert page.refused == [] and page.errors == []


def call(visit: Visit, module: str, function: str, *args: Any) -> Any:
    url = f"/console/assets/{asset_digest()}/{module}"
    return visit.page.evaluate(
        """async ([url, name, args]) => {
            const module = await import(url);
            try { return {value: module[name](...args)}; }
            catch (error) { return {error: error.message, kind: error.constructor.name}; }
        }""",
        [url, function, list(args)],
    )


CSV = (
    "\ufeffid,title,text,lang,year\r\n"
    'n1,First,"hello, there",en,2020\r\n'
    'n2,,"a ""quoted"" word\nover two lines",,\r\n'
    "\r\n"
    ",Untitled,no id here,fr,\r\n"
    "n4,Only title,,de,1999\n"
)
JSONL = "\n".join(
    [
        json.dumps({"_id": "d1", "title": "BEIR", "text": " body ", "metadata": {"k": 1}}),
        "",
        json.dumps({"id": 7, "text": "numeric id"}),
        json.dumps({"id": "d3", "title": "T", "text": "x", "metadata": {"title": "kept"}}),
        json.dumps({"id": "empty", "text": ""}),
    ]
)


@pytest.mark.parametrize(
    ("name", "content", "format_"),
    [
        pytest.param("notes.csv", CSV, "csv", id="csv"),
        pytest.param("corpus.jsonl", JSONL, "jsonl", id="jsonl"),
        pytest.param("bom.jsonl", "\ufeff" + JSONL, "jsonl", id="jsonl-with-bom"),
        pytest.param("note.md", "# Title\n\n{not json}\n", "text", id="one-text-file"),
    ],
)
def test_files_read_as_semsearch_ingest_reads_them(
    visit: Visit, tmp_path: Path, name: str, content: str, format_: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8", newline="")
    expected = list(read_documents(path))
    assert call(visit, "parse.js", "formatOf", name) == {"value": format_}
    assert call(visit, "parse.js", "parse", content, format_, name) == {"value": expected}


@pytest.mark.parametrize(
    ("content", "name"),
    [
        pytest.param('{"id": "a", "text": "fine"}\n{broken\n', "bad.jsonl", id="bad-json"),
        pytest.param('{"text": "no id"}\n', "noid.jsonl", id="no-id"),
        pytest.param('["a list"]\n', "list.jsonl", id="not-an-object"),
        pytest.param('{"id": "a", "text": "x", "metadata": [1]}\n', "meta.jsonl", id="bad-meta"),
        pytest.param("id,body\n1,x\n", "nocol.csv", id="csv-without-text"),
    ],
)
def test_bad_files_fail_naming_the_line(
    visit: Visit, tmp_path: Path, content: str, name: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SourceError) as python:
        list(read_documents(path))
    fmt = "csv" if name.endswith(".csv") else "jsonl"
    answer = call(visit, "parse.js", "parse", content, fmt, name)
    assert answer["kind"] == "SourceError"
    where = str(python.value).removeprefix(str(tmp_path) + "/").split(": ")[0]
    assert answer["error"].startswith(where + ": "), (answer, str(python.value))


def test_quantiles_are_histogram_quantile(visit: Visit) -> None:
    url = f"/console/assets/{asset_digest()}/metrics.js"
    got = visit.page.evaluate(
        """async (url) => {
            const m = await import(url);
            const b = new Map([[0.001, 10], [0.01, 60], [0.1, 90], [Infinity, 100]]);
            return [0.05, 0.5, 0.9, 0.99].map((q) => m.quantile(b, q))
                .concat([m.quantile(new Map([[Infinity, 0]]), 0.5)]);
        }""",
        url,
    )
    # Linear inside the bucket; past the last finite bound, that bound (as Prometheus does).
    assert got[:4] == pytest.approx([0.0005, 0.0082, 0.1, 0.1], rel=1e-9)
    assert got[4] is None  # no observations


def test_the_metrics_parser_reads_what_the_server_exports(
    visit: Visit, server: ServerProcess
) -> None:
    httpx.post(server.v1 + "/embeddings", json={"model": "wordllama-l2-supercat", "input": "x"})
    text = httpx.get(server.url + "/metrics").text
    samples = call(visit, "metrics.js", "parseMetrics", text)["value"]
    expected = [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    assert [(s["name"], s["labels"], s["value"]) for s in samples] == expected


@pytest.mark.parametrize(
    ("query", "words", "marked"),
    [
        pytest.param(
            "the cat",
            ["The", "cat", "cats", "catalog"],
            [False, True, True, False],
            id="stopwords-and-plural",
        ),
        pytest.param(
            "running", ["run", "runs", "running", "runner"], [True, True, True, True], id="stems"
        ),
        pytest.param(
            "protein folding",
            ["protain", "proteins", "folded", "fold"],
            [True, True, True, True],
            id="typos-and-stems",
        ),
        pytest.param("studies", ["study", "studied", "student"], [True, True, False], id="ies"),
    ],
)
def test_which_words_are_marked(
    visit: Visit, query: str, words: list[str], marked: list[bool]
) -> None:
    url = f"/console/assets/{asset_digest()}/highlight.js"
    got = visit.page.evaluate(
        """async ([url, query, words]) => {
            const m = await import(url);
            const matches = m.matcher(m.queryTerms(query));
            return words.map((w) => matches(w));
        }""",
        [url, query, words],
    )
    assert got == marked
