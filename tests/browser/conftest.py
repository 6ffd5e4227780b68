"""Browser tests of the dashboard: Playwright driving Debian's Chromium, headless, against the
query API served by uvicorn in this process on a free 127.0.0.1 port, over a read model filled by
hand (no Kafka). Live updates are pushed from the server side the way the feed does it:
`api.model.apply(topic, record)`, then `api.hub.publish(update)`, on the server's event loop.

Chromium: `/usr/bin/chromium` (`apt-get install -y chromium`; Playwright's own browser download is
not used) or `$CHROMIUM`. The tests skip, saying why, only when no Chromium can be found.
Screenshots go to `test-artifacts/browser/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from query_api.dashboard import STATIC_DIR
from tests.browser.harness import ARTIFACTS, LiveServer, Page, filled_model

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# ---- the dashboard build ------------------------------------------------------------------------


def _build_dashboard() -> None:
    """Build `query_api/static/` when it is missing or older than the dashboard's sources."""
    sources = [p for p in DASHBOARD.iterdir() if p.is_file()]
    index = STATIC_DIR / "index.html"
    if index.is_file() and all(p.stat().st_mtime <= index.stat().st_mtime for p in sources):
        return
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to build the dashboard (node dashboard/build.mjs)")
    if not (DASHBOARD / "node_modules" / "lightweight-charts").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the dashboard's pinned lightweight-charts"
        subprocess.run(
            [npm, "ci", "--prefix", str(DASHBOARD), "--no-audit", "--no-fund"], check=True
        )
    subprocess.run([node, str(DASHBOARD / "build.mjs")], check=True)


# ---- fixtures -----------------------------------------------------------------------------------


def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module scope: Playwright's sync API holds an event loop on this thread while it runs, so
    it must be gone before the (asyncio) tests of the other modules start."""
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium: install it with `apt-get install -y chromium` (or set $CHROMIUM)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (dev extra)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def dashboard_built() -> None:
    _build_dashboard()


@pytest.fixture
def server(dashboard_built: None) -> Iterator[LiveServer]:
    live = LiveServer(filled_model())
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def page(browser: Any, server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    p = context.new_page()
    errors: list[str] = []
    external: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))

    def watch(req: Any) -> None:
        if not req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            external.append(req.url)

    p.on("request", watch)
    p.goto(server.url + "/")
    p.wait_for_function("document.body.dataset.connection === 'live'", timeout=15000)
    wrapped = Page(p, errors, external)
    try:
        yield wrapped
        assert not errors, f"uncaught errors in the page: {errors}"
        assert not external, f"the page reached beyond the machine: {external}"
    finally:
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            wrapped.shot(f"FAILED-{request.node.name}")
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
