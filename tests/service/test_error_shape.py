"""Every error becomes OpenAI's envelope; this pins the shape and the status of each kind."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from index.errors import CollectionNotFoundError, InvalidArgumentError, StoreLockedError
from service.errors import ModelNotFoundError, UpstreamError, UpstreamTimeoutError
from service.handlers import handle_exception


def _app(exc: Exception) -> Litestar:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return Litestar([boom], exception_handlers={Exception: handle_exception}, logging_config=None)


@pytest.mark.parametrize(
    ("exc", "status", "type_"),
    [
        pytest.param(
            ModelNotFoundError("no", param="model"), 404, "invalid_request_error", id="model"
        ),
        pytest.param(UpstreamError("bad"), 502, "upstream_error", id="upstream"),
        pytest.param(UpstreamTimeoutError("slow"), 504, "upstream_error", id="timeout"),
        pytest.param(
            InvalidArgumentError("bad id", param="ids[3]"),
            400,
            "invalid_request_error",
            id="index-400",
        ),
        pytest.param(CollectionNotFoundError("nope"), 404, "invalid_request_error", id="index-404"),
        pytest.param(StoreLockedError("locked"), 503, "server_error", id="index-503"),
        pytest.param(RuntimeError("secret internals"), 500, "server_error", id="unexpected"),
    ],
)
def test_envelope(
    exc: Exception, status: int, type_: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(_app(exc)) as client:
        response = client.get("/boom")
    assert response.status_code == status
    body = msgspec.json.decode(response.content)
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert body["error"]["type"] == type_
    assert "secret internals" not in response.text
