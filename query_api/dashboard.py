"""The trader dashboard: the static page built from `dashboard/` into `query_api/static/`, at `/`.

The page is plain ES modules (no framework, no bundler) with TradingView's lightweight-charts
vendored into `static/vendor/` by the build (`node dashboard/build.mjs`, run by `make install`),
so it needs nothing from the internet. It reads the REST API for its first load and after every
reconnect, and follows the `/ws` relay for live values.

Mounted last, at `/`: every more specific route (`/api`, `/ws`, `/health`, `/metrics`, `/schema`,
the hub) wins over the static files. A checkout where the dashboard was never built answers `/`
with a short note saying how to build it instead of failing at startup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import MediaType, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.handlers.base import BaseRouteHandler
from litestar.static_files import create_static_files_router

STATIC_DIR: Final = Path(__file__).with_name("static")
"""Where the build puts the dashboard (generated; see `dashboard/build.mjs`)."""

NOT_BUILT: Final = (
    "The dashboard has not been built: run `make install` "
    "(or `npm ci --prefix dashboard && node dashboard/build.mjs`)."
)


def dashboard_router(static_dir: Path = STATIC_DIR) -> Router | BaseRouteHandler:
    """The dashboard's files at `/` (`index.html` for `/`), or a note when it is not built."""
    if not (static_dir / "index.html").is_file():

        @get("/", media_type=MediaType.TEXT, include_in_schema=False, sync_to_thread=False)
        def dashboard_missing() -> str:
            return NOT_BUILT

        return dashboard_missing
    return create_static_files_router(
        path="/",
        directories=[static_dir],
        html_mode=True,
        name="dashboard",
        # small files that change with every build: revalidate rather than serve a stale page
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
