"""The API documentation pages work offline: every script, style and icon is served here."""

from __future__ import annotations

import re

import httpx
import pytest

from service.testing import ServerProcess

REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger", "/schema/redoc", "/schema/rapidoc"])
def test_a_docs_page_loads_only_from_this_server(local_server: ServerProcess, page: str) -> None:
    response = httpx.get(local_server.url + page)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    references = REFERENCE.findall(response.text)
    assert references, response.text[:500]
    for reference in references:
        assert reference.startswith("/"), f"{page} loads {reference}"
        asset = httpx.get(local_server.url + reference)
        assert asset.status_code == 200, reference
        suffix = "." + reference.rsplit(".", 1)[-1]
        if suffix in TYPES:
            assert asset.headers["content-type"].split(";")[0] == TYPES[suffix], reference
    assert "fonts.googleapis.com" not in response.text


def test_the_schema_itself(local_server: ServerProcess) -> None:
    document = httpx.get(local_server.url + "/schema/openapi.json").json()
    assert document["info"]["title"] == "semsearch"
    yaml = httpx.get(local_server.url + "/schema/openapi.yaml")
    assert yaml.status_code == 200 and "title: semsearch" in yaml.text
