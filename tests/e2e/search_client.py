"""A thin httpx wrapper the search API tests share: JSON in, ``(status, body)`` out."""

from __future__ import annotations

from typing import Any

import httpx

ERROR_KEYS = {"message", "type", "param", "code"}


class Search:
    def __init__(self, url: str, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=60)

    def call(self, method: str, path: str, json: Any = None, **params: Any) -> tuple[int, Any]:
        if isinstance(json, str | bytes):  # raw JSON, e.g. numbers Python cannot encode
            response = self.http.request(method, path, content=json, params=params or None)
        else:
            response = self.http.request(method, path, json=json, params=params or None)
        return response.status_code, response.json()

    def ok(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        status, body = self.call(method, path, json, **params)
        assert status in (200, 201), (status, body)
        return body

    def error(self, expected: int, method: str, path: str, json: Any = None, **params: Any) -> dict:
        """Assert an error status and OpenAI's envelope; return the ``error`` object."""
        status, body = self.call(method, path, json, **params)
        assert status == expected, (status, body)
        assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
        return body["error"]

    def create(self, name: str, **fields: Any) -> dict:
        return self.ok("POST", "/collections", {"name": name, **fields})

    def upsert(self, name: str, documents: list[dict]) -> dict:
        return self.ok("POST", f"/collections/{name}/documents", {"documents": documents})

    def query(self, name: str, **body: Any) -> dict:
        return self.ok("POST", f"/collections/{name}/query", body)

    def ids(self, name: str, **params: Any) -> list[str]:
        return [d["id"] for d in self.ok("GET", f"/collections/{name}/documents", **params)["data"]]

    def close(self) -> None:
        self.http.close()
