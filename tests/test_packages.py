"""Which package may import which: index <- service <- benchmarks, and tests use them all.

``index`` knows nothing of the service; the service never imports the benchmarks or the tests
(``semsearch bench`` reaches the harness through an entry point) and uses only the index's
public API; the benchmarks never import the tests (both share ``service.testing``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def imports(package: str) -> Iterator[tuple[str, str]]:
    """``(file, imported module)`` for every absolute import in ``package``'s sources."""
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield str(path.relative_to(REPO_ROOT)), name


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        pytest.param("index", ("service", "benchmarks", "tests", "ray"), id="index"),
        pytest.param("service", ("benchmarks", "tests", "playwright"), id="service"),
        pytest.param("benchmarks", ("tests",), id="benchmarks"),
    ],
)
def test_imports_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = [(path, name) for path, name in imports(package) if name.split(".")[0] in forbidden]
    assert wrong == []


def test_the_service_uses_only_the_public_api_of_the_index() -> None:
    """``index/__init__.py``'s ``__all__`` is the surface; its modules stay private."""
    private = [(path, name) for path, name in imports("service") if name.startswith("index.")]
    assert private == []


def test_only_the_cluster_package_imports_ray() -> None:
    """Ray is an optional extra (issue 17): ``service/cluster/`` imports it, lazily, and
    nothing else in the product does, so the core runs without it."""
    wrong = [
        (path, name)
        for package in ("index", "service")
        for path, name in imports(package)
        if name.split(".")[0] == "ray" and not path.startswith("service/cluster/")
    ]
    assert wrong == []


def test_the_core_does_not_import_the_cluster_package() -> None:
    """Only the CLI's and the app's Ray branches reach ``service.cluster``, inside functions
    (an import at module level would load Ray for every user)."""
    top_level = []
    for path in sorted((REPO_ROOT / "service").rglob("*.py")):
        if path.is_relative_to(REPO_ROOT / "service" / "cluster"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "service.cluster"
            ):
                top_level.append(str(path.relative_to(REPO_ROOT)))
    assert top_level == []
