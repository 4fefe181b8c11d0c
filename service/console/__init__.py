"""The web console: a page of plain HTML/CSS/JS served from this package, working offline.

``console_routes()`` is what ``create_app`` mounts: the page at ``/`` and ``/console``
(``pages.py``) and its assets under ``/console/assets/<digest>/`` (``assets.py``). Everything
the console shows, it gets through the public HTTP API, with the bearer key the user typed
(kept in the browser's ``sessionStorage`` only). Serving it touches neither the index nor the
models, and needs no key: the API calls it makes do.
"""

from service.console.assets import STATIC_DIR, asset_digest
from service.console.pages import console_routes

__all__ = ["STATIC_DIR", "asset_digest", "console_routes"]
