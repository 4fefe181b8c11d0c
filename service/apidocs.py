"""The API documentation pages (Swagger UI, ReDoc, RapiDoc) with their scripts served from here.

Litestar's OpenAPI pages load their JavaScript, CSS, fonts and favicon from public CDNs by
default, so offline they are blank. The ``openapi-ui-bundles`` package ships the three UIs'
files; we serve them under ``/schema/assets/`` and point Litestar's render plugins at them
(ReDoc without Google Fonts). Pages that only exist on a CDN (Stoplight Elements, Scalar) are
not offered.

The pages get a Content-Security-Policy that lets them load nothing from elsewhere: ReDoc's
footer asks a CDN for its logo, and under this policy the browser does not even try (the image
hides itself). The documentation is public, like the static files of the console: the schema
describes the API, holds no data, and a browser cannot send a bearer key on navigation.
Everything the "try it out" buttons call still needs the key.
"""

from __future__ import annotations

from pathlib import Path

import openapi_ui_bundles
from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router

from service.auth import PUBLIC
from service.console.assets import assets_url

SCHEMA_PATH = "/schema"
ASSETS = f"{SCHEMA_PATH}/assets"
#: URL folder -> the package's folder of that UI's files.
BUNDLES: dict[str, Path] = {
    "swagger-ui": Path(openapi_ui_bundles.swagger_ui.static_path),
    "redoc": Path(openapi_ui_bundles.redoc.static_path),
    "rapidoc": Path(openapi_ui_bundles.rapidoc.static_path),
}
_A_DAY = 24 * 3600
# Litestar's pages hold the schema and their start-up code inline; ReDoc searches in a worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """ReDoc first: it is the page at ``/schema`` itself, as Litestar's default was."""
    favicon = f"<link rel='icon' type='image/svg+xml' href='{assets_url()}/favicon.svg'>"
    return [
        RedocRenderPlugin(
            path="/redoc",
            js_url=f"{ASSETS}/redoc/redoc.standalone.js",
            google_fonts=False,
            favicon=favicon,
        ),
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui/swagger-ui-standalone-preset.js",
            favicon=favicon,
        ),
        RapidocRenderPlugin(
            path="/rapidoc", js_url=f"{ASSETS}/rapidoc/rapidoc-min.js", favicon=favicon
        ),
        JsonRenderPlugin(path="/openapi.json"),
        YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
    ]


def docs_router() -> Router:
    """The router Litestar fills with the pages; it already holds the UIs' static files."""
    assets = [
        create_static_files_router(
            path=f"/assets/{name}",
            directories=[folder],
            name=f"apidocs-{name}",
            cache_control=CacheControlHeader(public=True, max_age=_A_DAY),
            include_in_schema=False,
        )
        for name, folder in BUNDLES.items()
    ]
    return Router(
        SCHEMA_PATH,
        route_handlers=assets,
        opt={PUBLIC: True},
        include_in_schema=False,
        after_request=_same_origin_only,
    )


def _same_origin_only(response: Response[object]) -> Response[object]:
    response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
    return response
