"""The CLI's command registry: plugin commands come from entry points, loaded only when used."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_bench_comes_from_the_harness_entry_point() -> None:
    parser = build_parser(["bench", "ann", "--vectors", "v.npy"])
    args = parser.parse_args(["bench", "ann", "--vectors", "v.npy"])
    assert args.run.__module__ == "benchmarks.harness.cli"


def test_serve_loads_no_plugin() -> None:
    done = _run(
        "import sys; from service.cli import build_parser; "
        "build_parser(['serve', '--port', '0']).parse_args(['serve', '--port', '0']); "
        "bad = [m for m in sys.modules if m.startswith('benchmarks')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    assert done.returncode == 0, done.stderr


def test_without_the_harness_bench_says_how_to_get_it() -> None:
    """As in the Docker image: the entry point is declared but ``benchmarks`` is absent."""
    for argv in (["bench", "quality", "--dataset", "d"], ["bench", "--help"], ["bench"]):
        done = _run(
            "import sys; sys.modules['benchmarks'] = None  # not importable\n"
            f"from service.cli import main; sys.exit(main({argv!r}))"
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert "pip install '.[bench]'" in done.stderr, done.stderr
    listing = _run(
        "import sys; sys.modules['benchmarks'] = None\n"
        "from service.cli import main; main(['--help'])"
    )
    assert "bench" in listing.stdout and "(not installed)" in listing.stdout


RST = re.compile(r"``|:(?:class|func|meth|mod|attr|data|ref):`|^\.\. |::$", re.MULTILINE)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--help"], id="semsearch"),
        pytest.param(["serve", "--help"], id="serve"),
        pytest.param(["ingest", "--help"], id="ingest"),
        pytest.param(["query", "--help"], id="query"),
        pytest.param(["bench", "--help"], id="bench"),
        pytest.param(["bench", "quality", "--help"], id="bench-quality"),
        pytest.param(["bench", "ann", "--help"], id="bench-ann"),
        pytest.param(["bench", "load", "--help"], id="bench-load"),
    ],
)
def test_help_shows_no_restructuredtext_markup(argv: list[str]) -> None:
    done = _run(f"from service.cli import main; main({argv!r})")
    assert done.returncode == 0, done.stderr
    assert "usage: semsearch" in done.stdout
    assert not RST.search(done.stdout), RST.search(done.stdout)
