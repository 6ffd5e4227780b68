"""What the deployment tests share: a loopback HTTP server that answers health probes with a status
the test chooses, so the probe commands of the image and of compose can be run for real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest


class HealthServer(msgspec.Struct, kw_only=True):
    """Answers every GET with `status`; remembers the paths it was asked for."""

    base_url: str
    status: int = 200
    paths: list[str] = msgspec.field(default_factory=list)


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    state: HealthServer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert state is not None
            state.paths.append(self.path)
            body = b'{"status": "ok"}' if state.status == 200 else b'{"status": "unavailable"}'
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = HealthServer(base_url=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, name="health-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
