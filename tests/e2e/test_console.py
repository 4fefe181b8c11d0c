"""The web console in a real Chromium, against a real server, with the network shut.

Every page is loaded with all requests to anything but the server refused (and recorded): a
CDN script, font or favicon would show up in ``refused`` and fail the test. One server and one
browser serve the whole module; each test makes its own collection. A screenshot of each page
goes to the test's temporary directory.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.testing import ServerProcess, clean_env
from tests.e2e.browser import Visit, chromium, open_page
from tests.e2e.search_client import Search

FIXTURE = Path(__file__).parents[1] / "fixtures" / "scifact_small"
TEXTS = {
    "cat": ("The cat sat on the mat", {"topic": "pets"}),
    "kitten": ("A small kitten sleeping on a rug", {"topic": "pets"}),
    "dog": ("A dog chased the postman down the street", {"topic": "pets"}),
    "car": ("The car needs new tyres and an oil change", {"topic": "cars"}),
    "boat": ("A sailing boat on a calm blue sea", {"topic": "travel"}),
    "physics": ("Quantum mechanics describes particles and waves", {"topic": "science"}),
    "market": ("Stock markets fell sharply today", {"topic": "finance"}),
    "recipe": ("Bake the bread for forty minutes at a high heat", {"topic": "food"}),
}

API_ANSWER = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")

browser = pytest.fixture(scope="module")(chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("console") / "data", env=clean_env()) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[Search]:
    client = Search(server.url)
    yield client
    client.close()


@pytest.fixture
def visit(browser, server: ServerProcess, tmp_path: Path) -> Iterator[Visit]:
    page = open_page(browser, server.url, tmp_path)
    yield page
    page.page.context.close()
    assert page.refused == [], f"requests left the server: {page.refused}"
    assert page.errors == [], f"JavaScript errors: {page.errors}"
    # 4xx answers the console shows (a bad filter, a deleted document) are logged by the
    # browser too; anything else is a defect.
    unexpected = [e for e in page.console_errors if not API_ANSWER.search(e)]
    assert unexpected == [], f"console errors: {unexpected}"


def collection(api: Search, name: str, **settings) -> str:
    api.create(name, **settings)
    api.upsert(name, [{"id": i, "text": t, "metadata": m} for i, (t, m) in TEXTS.items()])
    return name


def test_the_console_loads_offline_at_root_and_at_console(visit: Visit) -> None:
    for path in ("/", "/console"):
        page = visit.goto(path)
        page.wait_for_selector("#panel-collections h1")
        assert page.title().endswith("semsearch console")
        assert page.locator("#nav a").all_inner_texts() == [
            "Collections",
            "Search",
            "Documents",
            "Ingest",
            "Embeddings",
            "Fine-tuning",
            "Dashboard",
        ]
    assert visit.requests and all(url.startswith(visit.origin) for url in visit.requests)
    assert any("/console/assets/" in url and url.endswith("app.js") for url in visit.requests)
    assert visit.shot("home").stat().st_size > 0


def test_create_a_collection_and_ingest_a_file(visit: Visit, api: Search, tmp_path: Path) -> None:
    page = visit.goto("/#/collections")
    form = page.locator("#create-collection")
    form.locator("input[name=name]").fill("made-in-console")
    form.locator("select[name=default_mode]").select_option("vector")
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-collection='made-in-console']")
    row.wait_for()
    assert row.locator("td.count").inner_text() == "0"
    assert "vector" in row.inner_text() and "wordllama-l2-supercat" in row.inner_text()
    created = api.ok("GET", "/collections/made-in-console")
    assert created["default_mode"] == "vector"
    visit.shot("collections")

    corpus = tmp_path / "small.jsonl"
    lines = [json.dumps({"_id": i, "title": i.title(), "text": t}) for i, (t, _) in TEXTS.items()]
    corpus.write_text("\n".join(lines) + '\n{"_id": "blank", "text": ""}\n')
    row.get_by_role("link", name="Ingest").click()
    page.locator("#ingest-file").set_input_files(str(corpus))
    page.locator("#ingest-file-name").filter(has_text="small.jsonl").wait_for()
    page.locator("#ingest-batch").fill("3")  # several batches, so the bar moves
    page.locator("#ingest-start").click()
    summary = page.locator("#ingest-summary")
    summary.wait_for()
    assert re.search(
        rf"Ingested {len(TEXTS)} documents into made-in-console \(1 empty skipped\), \d+ tokens",
        summary.inner_text(),
    ), summary.inner_text()
    assert page.locator("#ingest-progress").get_attribute("value") == str(len(TEXTS) + 1)
    visit.shot("ingest")
    assert api.ok("GET", "/collections/made-in-console")["count"] == len(TEXTS)
    doc = api.ok("GET", "/collections/made-in-console/documents/cat")
    assert doc["text"] == "Cat The cat sat on the mat" and doc["metadata"] == {"title": "Cat"}


@pytest.mark.parametrize("mode", ["vector", "lexical", "hybrid"])
def test_search_in_each_mode_highlights_the_hits(visit: Visit, api: Search, mode: str) -> None:
    name = f"search-{mode}"
    collection(api, name)
    page = visit.goto(f"/#/search/{name}")
    page.locator("#query").fill("a cat on the mat")
    page.locator("#mode").select_option(mode)
    page.locator("#k").fill("3")
    page.locator("#search-form button[type=submit]").click()
    page.locator("#search-summary").filter(has_text=f"mode {mode}").wait_for()
    shown = page.locator("li.hit").evaluate_all("hits => hits.map(h => h.dataset.id)")
    body = {"query": "a cat on the mat", "k": 3, "mode": mode}
    if mode == "hybrid":
        body["alpha"] = 0.3
    expected = api.ok("POST", f"/collections/{name}/query", body)
    assert shown == [hit["id"] for hit in expected["data"]]
    first = page.locator("li.hit").first
    marks = first.locator("mark").all_inner_texts()
    assert [m.lower() for m in marks] == ["cat", "mat"], marks  # not "a", "on", "the"
    parts = first.locator(".parts").inner_text()
    if mode == "hybrid":
        assert re.fullmatch(r"lexical \d+\.\d{4} · vector -?\d+\.\d{4}", parts), parts
    else:
        assert ("lexical –" in parts) == (mode == "vector") and ("vector –" in parts) == (
            mode == "lexical"
        )
    assert "topic pets" in first.locator("ul.chips").inner_text()
    visit.shot(f"search-{mode}")

    # The curl line is the request the console made: run it and get the same hits.
    line = page.locator("#curl-line").inner_text()
    assert line.startswith("curl -s ") and f"/collections/{name}/query" in line
    if shutil.which("curl") and shutil.which("sh"):
        done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=30)
        assert [h["id"] for h in json.loads(done.stdout)["data"]] == shown


def test_search_with_a_where_filter_and_a_bad_one(visit: Visit, api: Search) -> None:
    name = collection(api, "search-where")
    page = visit.goto(f"/#/search/{name}")
    page.locator("#query").fill("animals")
    page.locator("#mode").select_option("vector")
    page.locator("#where").fill('{"topic": {"$in": ["cars", "travel"]}}')
    page.locator("#search-form button[type=submit]").click()
    page.locator("#search-summary").wait_for()
    assert sorted(page.locator("li.hit").evaluate_all("hs => hs.map(h => h.dataset.id)")) == [
        "boat",
        "car",
    ]
    page.locator("#where").fill('{"topic": ')
    assert "Not a valid filter" in page.locator(".error-text").first.inner_text()
    page.locator("#where").fill('{"topic": {"$near": 1}}')
    page.locator("#search-form button[type=submit]").click()
    error = page.locator("#results .error")
    error.wait_for()
    assert "400" in error.inner_text() and "$near" in error.inner_text()


def test_open_a_document_and_delete_it(visit: Visit, api: Search) -> None:
    name = "browse"
    api.create(name)
    docs = [{"id": f"doc-{i:02d}", "text": f"document number {i}"} for i in range(25)]
    api.upsert(name, docs)
    page = visit.goto(f"/#/documents/{name}")
    rows = page.locator("#documents-page tbody tr")
    rows.first.wait_for()
    assert rows.count() == 20 and "page 1" in page.locator("#page-info").inner_text()
    page.locator("#page-next").click()
    page.locator("#page-info").filter(has_text="page 2").wait_for()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == [
        f"doc-{i:02d}" for i in range(20, 25)
    ]
    visit.shot("documents")
    page.get_by_role("link", name="doc-22").click()
    assert page.locator("#document-text").inner_text() == "document number 22"
    visit.shot("document")
    page.locator("#delete-document").click()
    dialog = page.locator("dialog.confirm")
    assert "Delete document doc-22?" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete document").click()
    page.locator(".notice").filter(has_text="Deleted doc-22.").wait_for()
    assert api.call("GET", f"/collections/{name}/documents/doc-22")[0] == 404
    assert api.ok("GET", f"/collections/{name}")["count"] == 24


def test_drop_a_collection_only_after_typing_its_name(visit: Visit, api: Search) -> None:
    collection(api, "doomed")
    page = visit.goto("/#/collections")
    row = page.locator("tr[data-collection='doomed']")
    row.get_by_role("button", name="Drop").click()
    dialog = page.locator("dialog.confirm")
    confirm = dialog.get_by_role("button", name="Drop collection")
    assert f"its {len(TEXTS)} documents" in dialog.inner_text() and confirm.is_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    assert api.call("GET", "/collections/doomed")[0] == 200
    row.get_by_role("button", name="Drop").click()
    dialog.locator("input").fill("doome")
    assert confirm.is_disabled()
    dialog.locator("input").fill("doomed")
    confirm.click()
    page.locator(".notice").filter(has_text="Dropped doomed.").wait_for()
    assert api.call("GET", "/collections/doomed")[0] == 404


def test_a_collections_settings(visit: Visit, api: Search) -> None:
    collection(api, "tuned")
    page = visit.goto("/#/collections/tuned")
    info = page.locator("#collection-info").inner_text()
    assert "wordllama-l2-supercat" in info and "cosine" in info and "english" in info
    form = page.locator("#collection-settings")
    form.locator("select[name=default_mode]").select_option("lexical")
    form.locator("input[name=ef_search]").fill("64")
    form.get_by_role("button", name="Save").click()
    form.locator(".notice").wait_for()
    visit.shot("settings")
    saved = api.ok("GET", "/collections/tuned")
    assert (saved["default_mode"], saved["hnsw"]["ef_search"]) == ("lexical", 64)


def test_the_embeddings_playground(visit: Visit, api: Search) -> None:
    page = visit.goto("/#/embeddings")
    page.locator("#text-a").fill("a kitten on a rug")
    page.locator("#text-b").fill("the cat sat on the mat")
    page.get_by_role("button", name="Compare").click()
    shown = float(page.locator("#cosine").inner_text())
    vectors = api.ok(
        "POST",
        "/v1/embeddings",
        {
            "model": "wordllama-l2-supercat",
            "input": ["a kitten on a rug", "the cat sat on the mat"],
        },
    )["data"]
    a, b = (v["embedding"] for v in vectors)
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    expected = dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    assert shown == pytest.approx(expected, abs=1e-4)
    visit.shot("embeddings")


def _training_file() -> bytes:
    corpus = {}
    for line in (FIXTURE / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        corpus[doc["_id"]] = f"{doc['title']} {doc['text']}".strip()
    queries = {}
    for line in (FIXTURE / "queries.jsonl").read_text().splitlines():
        query = json.loads(line)
        queries[query["_id"]] = query["text"]
    pairs = []
    for row in (FIXTURE / "qrels" / "train.tsv").read_text().splitlines()[1:40]:
        query_id, doc_id = row.split("\t")[:2]
        pairs.append(json.dumps({"query": queries[query_id], "positive": corpus[doc_id]}))
    return "\n".join(pairs).encode()


def test_a_fine_tuning_job_with_its_events_and_curves(visit: Visit, server: ServerProcess) -> None:
    with httpx.Client(base_url=server.v1, timeout=30) as http:
        upload = http.post(
            "/files",
            files={"file": ("pairs.jsonl", _training_file())},
            data={"purpose": "fine-tune"},
        ).json()
        job = http.post(
            "/fine_tuning/jobs",
            json={
                "model": "wordllama-l2-supercat",
                "training_file": upload["id"],
                "hyperparameters": {"n_epochs": 3},
            },
        ).json()
        deadline = time.monotonic() + 120
        while http.get(f"/fine_tuning/jobs/{job['id']}").json()["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, "the job did not finish in 120 s"
            time.sleep(0.5)
        events = http.get(f"/fine_tuning/jobs/{job['id']}/events", params={"limit": 100}).json()
    page = visit.goto("/#/fine-tuning")
    row = page.locator(f"tr[data-job='{job['id']}']")
    row.wait_for()
    assert "succeeded" in row.inner_text(), row.inner_text()
    assert "wordllama-l2-supercat" in page.locator("#models").inner_text()
    row.get_by_role("link", name=job["id"]).click()
    shown = page.locator("#job-events li")
    shown.first.wait_for()
    assert shown.count() == len(events["data"])
    assert shown.first.inner_text().endswith(events["data"][0]["message"])
    epochs = [e for e in events["data"] if e["type"] == "metrics"]
    assert len(epochs) == 3
    curve = page.locator("#job-charts polyline[data-series='validation nDCG@10']")
    assert len(curve.get_attribute("points").split()) == len(epochs)
    assert page.locator("#job-charts polyline[data-series='training loss']").count() == 1
    visit.shot("fine-tuning")


def test_the_dashboard_reads_metrics(visit: Visit, api: Search) -> None:
    page = visit.goto("/#/dashboard")
    page.locator("#tile-percentiles").wait_for()
    for _ in range(5):
        api.ok("GET", "/collections")
    # The second scrape gives a rate.
    page.locator("#tile-rps .value").filter(has_text=re.compile(r"^\d+\.\d\d$")).wait_for()
    percentiles = page.locator("#tile-percentiles .value").inner_text()
    assert re.fullmatch(r"[\d.]+ ms · [\d.]+ ms · [\d.]+ ms", percentiles), percentiles
    assert (
        page.locator("#tile-cache .value").inner_text() in ("–",)
        or "%" in page.locator("#tile-cache .value").inner_text()
    )
    assert "GET /collections" in page.locator("#routes").inner_text()
    assert "/metrics" not in page.locator("#routes").inner_text()
    visit.shot("dashboard")


def test_the_api_docs_work_offline(visit: Visit) -> None:
    page = visit.goto("/#/collections")
    assert page.locator("#docs-swagger").get_attribute("href") == "/schema/swagger"
    page = visit.goto("/schema/swagger")
    page.locator(".swagger-ui .info .title").filter(has_text="semsearch").wait_for()
    page.locator(".opblock-summary-path").filter(
        has_text="/collections/{name}/query"
    ).first.wait_for()
    visit.shot("swagger", full_page=False)
    page = visit.goto("/schema/redoc")
    page.locator("h1").filter(has_text="semsearch").wait_for()
    page.get_by_text("/collections/{name}/query").first.wait_for(state="attached")
    visit.shot("redoc", full_page=False)
    # ReDoc's footer asks a CDN for its logo: the page's policy stops the browser from trying.
    blocked = [e for e in visit.console_errors if "Content Security Policy" in e]
    assert blocked and all("cdn.redoc.ly/redoc/logo-mini.svg" in e for e in blocked), blocked
    visit.console_errors = [e for e in visit.console_errors if e not in blocked]


def test_the_best_passage_of_a_long_document(visit: Visit, api: Search) -> None:
    status, body = api.call(
        "POST", "/collections", {"name": "long", "passages": {"size": 32, "overlap": 4}}
    )
    if status == 400 and "passages" in json.dumps(body):
        pytest.skip("this build has no passages yet (issue 12): the console shows them when it has")
    assert status == 201, body
    filler = " ".join(f"Paragraph {i} talks about rivers, weather and trains." for i in range(40))
    text = f"{filler} Then the cat sat on the mat by the door. {filler}"
    api.upsert("long", [{"id": "essay", "text": text}, {"id": "other", "text": "dogs bark"}])
    page = visit.goto("/#/search/long")
    page.locator("#query").fill("cat mat")
    page.locator("#mode").select_option("lexical")
    page.locator("#search-form button[type=submit]").click()
    page.locator("#search-summary").wait_for()
    answer = api.ok(
        "POST",
        "/collections/long/query",
        {"query": "cat mat", "mode": "lexical", "include": ["text", "passages"], "k": 10},
    )
    best = max(answer["data"][0]["passages"], key=lambda p: p["score"])
    assert text[best["start"] : best["end"]] == best["text"]
    shown = page.locator("li.hit").first.locator("blockquote.passage")
    assert shown.locator("p").inner_text() == best["text"]
    assert [m.lower() for m in shown.locator("mark").all_inner_texts()] == ["cat", "mat"]
    visit.shot("passages")


def test_ingest_pasted_csv_and_a_dropped_text_file(visit: Visit, api: Search) -> None:
    api.create("pasted")
    page = visit.goto("/#/ingest/pasted")
    page.locator("#ingest-text").fill(
        'id,title,text,lang\nc1,Hi,"hello, world",en\nc2,,bonjour,fr\n'
    )
    page.locator("#ingest-format").select_option("csv")
    page.locator("#ingest-start").click()
    page.locator("#ingest-summary").filter(has_text="Ingested 2 documents").wait_for()
    assert api.ok("GET", "/collections/pasted/documents/c1")["metadata"] == {
        "lang": "en",
        "title": "Hi",
    }

    # A file dropped on the zone, as a browser delivers it (a DataTransfer with a File).
    page.locator("#ingest-text").fill("")
    page.locator("#ingest-format").select_option("auto")
    page.locator("#dropzone").evaluate(
        """zone => {
            const data = new DataTransfer();
            data.items.add(new File(["# Notes\\n\\nline one\\nline two\\n"], "notes.md"));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }"""
    )
    page.locator("#ingest-file-name").filter(has_text="notes.md").wait_for()
    page.locator("#ingest-start").click()
    page.locator("#ingest-summary").filter(has_text="Ingested 1 document into").wait_for()
    doc = api.ok("GET", "/collections/pasted/documents/notes.md")
    assert doc["text"] == "# Notes\n\nline one\nline two" and doc["metadata"] == {
        "path": "notes.md"
    }

    # A line that is not JSON stops before anything is sent, naming the line.
    page.locator("#ingest-text").fill('{"id": "ok", "text": "x"}\n{oops\n')
    page.locator("#ingest-format").select_option("jsonl")
    page.locator("#ingest-start").click()
    assert "pasted:2: not valid JSON" in page.locator("#ingest-result .error").inner_text()
    assert api.call("GET", "/collections/pasted/documents/ok")[0] == 404
