"""The served OpenAPI document tells the truth: every operation is fuzzed from it, and every
answer must be declared there, status, content type, body and headers (issue 10, item 5).

A standing test: schemathesis generates requests from ``/schema/openapi.json`` (valid and
invalid ones), with a fixed seed and a bounded number of examples per operation, against a real
server that holds a small collection the examples can hit. Zero 5xx, and full conformance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.testing import ServerProcess, clean_env

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 30  # per operation: the whole run stays well under a minute


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", env=clean_env())
    with server.start():
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/collections", json={"name": "fuzz", "dimensions": 4}).raise_for_status()
            docs = [
                {"id": f"d{i}", "vector": [1.0, i, 2.0, 3.0], "text": f"text {i}", "metadata": {}}
                for i in range(20)
            ]
            body = {"documents": docs}
            client.post("/collections/fuzz/documents", json=body).raise_for_status()
            files = {"file": ("notes.txt", b"some notes")}
            client.post("/v1/files", data={"purpose": "user_data"}, files=files).raise_for_status()
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> schemathesis.BaseSchema:
    document = httpx.get(fuzz_server.url + "/schema/openapi.json", timeout=30).json()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=fuzz_server.url)
    return loaded


def fuzz(strategy: st.SearchStrategy[schemathesis.Case]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # a fixed seed: the same requests every run
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    run()


def test_every_operation_conforms_to_the_served_document(
    api_schema: schemathesis.BaseSchema,
) -> None:
    """Valid and invalid requests for every operation, and valid ones aimed at the existing
    collection; every failure of every operation is reported together."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 24
    for operation in operations:
        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        if "{name}" in operation.path:
            strategies.append(operation.as_strategy(path_parameters={"name": "fuzz"}))
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
        for strategy in strategies:
            try:
                fuzz(strategy)
            except Unsatisfiable:  # nothing in this operation can be made invalid
                continue
            except Exception as exc:  # collected: one operation's failure hides no other's
                failures.append(f"{operation.label}: {exc}")
                break
    assert not failures, "\n\n".join(failures)


def test_the_document_declares_the_real_error_envelope(fuzz_server: ServerProcess) -> None:
    """One error schema for every error of every operation: OpenAI's envelope."""
    document = httpx.get(fuzz_server.url + "/schema/openapi.json").json()
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"message", "type", "param", "code"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "401", "500"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    [media] = response["content"].values()
                    assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                        method,
                        path,
                        status,
                    )
    listed = {
        "/v1/files": "ListFilesResponse",
        "/v1/fine_tuning/jobs": "ListJobsResponse",
        "/v1/fine_tuning/jobs/{fine_tuning_job_id}/events": "ListEventsResponse",
        "/v1/models": "ListModelsResponse",
        "/collections": "CollectionList",
    }
    for path, name in listed.items():
        [media] = document["paths"][path]["get"]["responses"]["200"]["content"].values()
        assert media["schema"] == {"$ref": f"#/components/schemas/{name}"}, path
    assert "404" in document["paths"]["/collections/{name}"]["get"]["responses"]
    assert "409" in document["paths"]["/collections"]["post"]["responses"]


def test_upload_body_is_declared(fuzz_server: ServerProcess, tmp_path: Path) -> None:
    document = httpx.get(fuzz_server.url + "/schema/openapi.json").json()
    body = document["paths"]["/v1/files"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["file", "purpose"]
