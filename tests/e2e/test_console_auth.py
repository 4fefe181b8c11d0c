"""The console against a server with API keys: it asks for a key, sends it as a bearer token,
and keeps it in the tab's sessionStorage only (no localStorage, no cookie, no URL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.testing import ServerProcess, clean_env
from tests.e2e.browser import Visit, chromium, open_page

KEY = "console-test-key"

browser = pytest.fixture(scope="module")(chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = clean_env({"SEMSEARCH_API_KEYS": f"other-key,{KEY}"})
    with ServerProcess(tmp_path_factory.mktemp("console-auth") / "data", env=env) as running:
        headers = {"Authorization": f"Bearer {KEY}"}
        httpx.post(running.url + "/collections", json={"name": "guarded"}, headers=headers)
        yield running


@pytest.fixture
def visit(browser, server: ServerProcess, tmp_path: Path) -> Iterator[Visit]:
    page = open_page(browser, server.url, tmp_path)
    yield page
    page.page.context.close()
    assert page.refused == [] and page.errors == [], (page.refused, page.errors)


def test_the_console_asks_for_a_key_and_keeps_it_in_the_session(visit: Visit) -> None:
    page = visit.goto("/")
    dialog = page.locator("#auth-dialog")
    dialog.wait_for()
    assert "This server needs an API key" in dialog.inner_text()
    visit.shot("auth-prompt")

    dialog.locator("#api-key").fill("wrong-key")
    dialog.get_by_role("button", name="Use this key").click()
    page.locator("#auth-refused").wait_for()
    assert "Incorrect API key" in page.locator("#auth-refused").inner_text()
    visit.shot("auth-refused")

    page.locator("#api-key").fill(KEY)
    page.get_by_role("button", name="Use this key").click()
    page.locator("tr[data-collection='guarded']").wait_for()
    assert page.locator("#auth-dialog").count() == 0
    visit.shot("auth-accepted")

    storage = page.evaluate(
        "() => ({session: {...sessionStorage}, local: {...localStorage}, cookie: document.cookie})"
    )
    assert storage == {"session": {"semsearch.apiKey": KEY}, "local": {}, "cookie": ""}
    assert page.context.cookies() == []
    assert KEY not in page.url

    page.reload()  # the tab keeps its key
    page.locator("tr[data-collection='guarded']").wait_for()

    page.locator("#forget-key").click()
    page.locator("#auth-dialog").wait_for()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_new_tab_asks_again(visit: Visit) -> None:
    page = visit.goto("/")
    page.locator("#api-key").fill(KEY)
    page.get_by_role("button", name="Use this key").click()
    page.locator("tr[data-collection='guarded']").wait_for()
    tab = page.context.new_page()  # same browser profile, a new tab: a new session
    tab.goto(visit.origin + "/")
    tab.locator("#auth-dialog").wait_for()
    assert tab.evaluate("() => sessionStorage.length") == 0


def test_static_files_need_no_key_and_the_api_does(server: ServerProcess) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    script = page.text.split('src="')[-1].split('"')[0]
    assert httpx.get(server.url + script).status_code == 200
    assert httpx.get(server.url + "/schema/swagger").status_code == 200
    assert httpx.get(server.url + "/collections").status_code == 401
    assert httpx.get(server.url + "/metrics").status_code == 401
