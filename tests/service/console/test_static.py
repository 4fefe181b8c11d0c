"""The console's page and static files over plain HTTP, from a real server: content types,
caching headers, no directory listing, no way out of the folder, nothing from a CDN."""

from __future__ import annotations

import http.client
import re
import warnings
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.exceptions import LitestarDeprecationWarning

from service.app import create_app
from service.console import STATIC_DIR, asset_digest
from service.settings import Settings
from service.testing import ServerProcess

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
A_YEAR = "max-age=31536000"
EXTERNAL = re.compile(r"""(?:https?:)?//(?!www\.w3\.org/)[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def assets(server: ServerProcess) -> str:
    return f"{server.url}/console/assets/{asset_digest()}"


def raw_get(server: ServerProcess, target: str) -> tuple[int, bytes]:
    """The request line exactly as given: httpx would resolve ``..`` before sending it."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/", "/console"])
def test_the_page(local_server: ServerProcess, path: str) -> None:
    page = httpx.get(local_server.url + path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' only
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert f'src="/console/assets/{asset_digest()}/app.js"' in page.text
    assert not EXTERNAL.search(page.text), EXTERNAL.search(page.text)
    again = httpx.get(local_server.url + path, headers={"If-None-Match": page.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == page.headers["etag"]


def test_every_static_file_with_its_type_and_a_year_of_cache(local_server: ServerProcess) -> None:
    files = sorted(p for p in STATIC_DIR.iterdir() if p.is_file())
    assert {p.suffix for p in files} == set(TYPES)
    for file in files:
        response = httpx.get(f"{assets(local_server)}/{file.name}")
        assert response.status_code == 200, file.name
        assert response.headers["content-type"].split(";")[0] == TYPES[file.suffix], file.name
        cache = {d.strip() for d in response.headers["cache-control"].split(",")}
        assert cache == {"public", A_YEAR, "immutable"}, file.name
        assert response.content == file.read_bytes()
        assert not EXTERNAL.search(response.text), (file.name, EXTERNAL.search(response.text))
    head = httpx.head(f"{assets(local_server)}/app.js")
    assert head.status_code == 200 and head.content == b""


def test_the_digest_follows_the_contents(tmp_path) -> None:
    (tmp_path / "a.js").write_text("1")
    before = asset_digest(tmp_path)
    (tmp_path / "a.js").write_text("2")
    assert asset_digest.__wrapped__(tmp_path) != before  # uncached: the same folder, changed


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param("", id="folder"),
        pytest.param("/", id="folder-slash"),
        pytest.param("/missing.js", id="missing-file"),
    ],
)
def test_no_directory_listing(local_server: ServerProcess, suffix: str) -> None:
    for root in (assets(local_server), f"{local_server.url}/console/assets"):
        response = httpx.get(root + suffix)
        assert response.status_code == 404, (root + suffix, response.text[:200])
        assert response.json()["error"]["code"] == "not_found"
        assert "app.js" not in response.text


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param("../../../pages.py", id="dot-dot"),
        pytest.param("%2e%2e/%2e%2e/%2e%2e/pages.py", id="encoded-dots"),
        pytest.param("..%2f..%2f..%2fpages.py", id="encoded-slash"),
        pytest.param("....//....//pages.py", id="doubled-dots"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("..%5c..%5cpages.py", id="backslash"),
        pytest.param("%252e%252e/pages.py", id="double-encoded"),
    ],
)
def test_paths_out_of_the_folder_are_refused(local_server: ServerProcess, tail: str) -> None:
    status, body = raw_get(local_server, f"/console/assets/{asset_digest()}/{tail}")
    assert status in (400, 404), (status, body[:200])
    assert b"def console_page" not in body and b"root:" not in body


def test_the_console_is_not_in_the_api_schema(local_server: ServerProcess) -> None:
    paths = httpx.get(local_server.url + "/schema/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/console", "/schema"))]


def test_serving_the_console_touches_no_service() -> None:
    """The page and assets handlers take no dependency: no index, model or store is asked."""
    with warnings.catch_warnings():  # other handlers' inferred dependencies: not this test's
        warnings.simplefilter("ignore", LitestarDeprecationWarning)
        app = create_app(Settings.load({}, {}))
    handlers = [
        handler
        for route in app.routes
        if route.path in ("/", "/console") or route.path.startswith("/console/assets/")
        for handler in route.route_handlers
    ]
    assert len(handlers) >= 4
    for handler in handlers:
        assert set(handler.parsed_fn_signature.parameters) <= {"request", "scope", "file_path"}
