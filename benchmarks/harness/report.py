"""Outputs of a run: a Markdown table on stdout, a JSON record, PNG plots (with matplotlib).

Usage::

    machine = machine_info()
    print(markdown_table(["system", "nDCG@10"], [["bm25", 0.661]]))
    path = write_record(run, output_dir, stem)          # JSON, see ``schemas``
    plot_recall_qps(points, output_dir / f"{stem}-recall-qps.png")   # None without matplotlib

matplotlib is only in the optional ``bench`` extra and is imported inside the plot functions,
so the harness runs (tables and JSON) without it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.harness.schemas import AnnPoint, LoadLevel, Machine, Run

PACKAGES = (
    "semsearch",
    "numpy",
    "hnswlib",
    "msgspec",
    "httpx",
    "litestar",
    "uvicorn",
    "wordllama",
    "matplotlib",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine_info() -> Machine:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return Machine(
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        packages=packages,
        git_commit=commit,
        git_dirty=bool(status) if status is not None else None,
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_stem(kind: str, name: str) -> str:
    """``quality-scifact-20260101T120000Z``: sortable and unique enough per run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return f"{kind}-{safe}-{stamp}"


def write_record(run: Run, output_dir: Path, stem: str) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{stem}.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(run), indent=2) + b"\n")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; numbers right-aligned, floats to 3 places (or whole if >= 10)."""
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows) and bool(rows)
        for i in range(len(headers))
    ]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain() -> Any:
    """Log-axis labels as plain numbers at 1, 2 and 5 of each decade (not 2x10^0)."""
    import math

    from matplotlib.ticker import FuncFormatter

    def label(value: float, _: int) -> str:
        if value <= 0:
            return ""
        lead = round(value / 10 ** math.floor(math.log10(value)), 6)
        return f"{value:g}" if lead in (1, 2, 5) else ""

    return FuncFormatter(label)


def plot_recall_qps(points: Sequence[AnnPoint], path: Path, title: str = "") -> Path | None:
    """ann-benchmarks' picture: recall@10 on x, queries/s (log) on y, one line per index."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=90)
    series: dict[str, list[AnnPoint]] = {}
    for p in points:
        series.setdefault(f"{p.index} (M={p.m})", []).append(p)
    for label, pts in series.items():
        pts = sorted(pts, key=lambda p: p.ef)
        ax.plot([p.recall_at_10 for p in pts], [p.qps for p in pts], marker="o", label=label)
        for p in pts:
            ax.annotate(str(p.ef), (p.recall_at_10, p.qps), fontsize=7, alpha=0.7)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_plain())
    ax.yaxis.set_minor_formatter(_plain())
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries/s (1 thread)")
    ax.set_title(title or "recall vs QPS (labels: ef_search)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_latency_histogram(levels: Sequence[LoadLevel], path: Path, title: str = "") -> Path | None:
    """Query latency distribution per concurrency level, log-spaced bins."""
    plt = _pyplot()
    if plt is None:
        return None
    import numpy as np

    samples = [lv.latency_quantiles_ms for lv in levels if lv.latency_quantiles_ms]
    if not samples:
        return None
    low = max(min(min(s) for s in samples), 0.01)
    high = max(max(s) for s in samples)
    bins = np.geomspace(low, max(high, low * 1.01), 50)
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=90)
    for level in levels:
        if level.latency_quantiles_ms:
            ax.hist(
                level.latency_quantiles_ms,
                bins=bins,
                histtype="step",
                linewidth=1.4,
                label=f"{level.mode or ''} c={level.concurrency} (p50 {level.p50_ms:.2f} ms)",
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_plain())
    ax.xaxis.set_minor_formatter(_plain())
    ax.set_xlabel("query latency (ms)")
    ax.set_ylabel("share of requests (per mille)")
    ax.set_title(title or "query latency by concurrency", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
