"""The console's static files, served by Litestar's static files router.

The URL of the folder carries a digest of its contents (``/console/assets/3f2a9c1e/app.js``),
so browsers may keep every asset for a year (``immutable``): a changed file is a new digest, a
new URL. Litestar's router sends correct content types, lists no directories, refuses paths
that leave the folder, and answers ``HEAD``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from service.auth import PUBLIC

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/console/assets"
_A_YEAR = 365 * 24 * 3600


@cache
def asset_digest(root: Path = STATIC_DIR) -> str:
    """Eight hex digits that change whenever any file under ``root`` does."""
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:8]


def assets_url() -> str:
    return f"{ASSETS_PATH}/{asset_digest()}"


def assets_router() -> Router:
    return create_static_files_router(
        path=assets_url(),
        directories=[STATIC_DIR],
        name="console-assets",
        cache_control=CacheControlHeader(public=True, max_age=_A_YEAR, immutable=True),
        opt={PUBLIC: True},
        include_in_schema=False,
    )
