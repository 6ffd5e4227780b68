"""`/health/live`, `/health/ready` and `/metrics` for the parts without an HTTP server of their own.

The producer and the processor worker run an asyncio loop that must not serve HTTP itself (a
probe must still answer when that loop is the thing that is stuck), so a small stdlib HTTP server
runs in a thread and asks a `Health` object, which each part fills with named checks:

- liveness checks say the process makes progress (a `Heartbeat` beaten by a task on the part's
  loop: a blocked or dead loop stops beating), not merely that it runs;
- readiness checks say the part does its job now (the exchange session is up and the publisher
  delivers; the worker has joined its group). `/health/ready` also runs the liveness checks, and a
  part with no readiness check registered yet is not ready (it is still starting).

Both answer JSON (`HealthReport`), 200 when every check passes, else 503. Checks run in the
server's thread: they only read state the loop writes (single attribute reads), never await.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Literal

import msgspec
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder

from marketdata.logs import get_logger

log = get_logger("marketdata.health")

LIVE_PATH: Final = "/health/live"
READY_PATH: Final = "/health/ready"
METRICS_PATH: Final = "/metrics"
LOOP_STALL_SECONDS: Final = 10.0
"""A loop that has not turned for this long is stuck: liveness fails and the pod is restarted."""

Clock = Callable[[], float]


class Check(msgspec.Struct, frozen=True):
    """The outcome of one check: whether it passes, and why (for a human reading the probe)."""

    ok: bool
    detail: str


CheckFn = Callable[[], Check]


class HealthReport(msgspec.Struct, frozen=True):
    """The body of `/health/live` and `/health/ready`."""

    status: Literal["ok", "failing"]
    part: str
    uptime_seconds: float
    checks: dict[str, Check]


class Health:
    """Named liveness and readiness checks of one part, evaluated on demand."""

    def __init__(self, part: str, *, clock: Clock = time.monotonic) -> None:
        self.part = part
        self._clock = clock
        self._started = clock()
        self._live: dict[str, CheckFn] = {}
        self._ready: dict[str, CheckFn] = {}

    def add_live(self, name: str, check: CheckFn) -> None:
        self._live[name] = check

    def add_ready(self, name: str, check: CheckFn) -> None:
        self._ready[name] = check

    def live(self) -> HealthReport:
        return self._report(self._live)

    def ready(self) -> HealthReport:
        if not self._ready:
            pending = {"started": Check(ok=False, detail="starting: no readiness check yet")}
            return self._report({**self._live}, extra=pending)
        return self._report({**self._live, **self._ready})

    def _report(
        self, checks: Mapping[str, CheckFn], extra: Mapping[str, Check] | None = None
    ) -> HealthReport:
        results = {name: _run(name, check) for name, check in checks.items()}
        results.update(extra or {})
        ok = all(result.ok for result in results.values())
        return HealthReport(
            status="ok" if ok else "failing",
            part=self.part,
            uptime_seconds=round(self._clock() - self._started, 3),
            checks=results,
        )


def _run(name: str, check: CheckFn) -> Check:
    try:
        return check()
    except Exception as exc:  # a broken check must fail the probe, not the server thread
        log.error("health.check_failed", check=name, error=repr(exc))
        return Check(ok=False, detail=f"check raised {exc!r}")


class Heartbeat:
    """Beaten by a task on the loop it watches; fails once no beat came for `max_age` seconds.

    Before the first beat it fails too ("not started"): a part whose loop never starts turning is
    not alive (a startup probe gives it time to get there)."""

    def __init__(self, max_age: float = LOOP_STALL_SECONDS, *, clock: Clock = time.monotonic):
        self.max_age = max_age
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._clock()

    def check(self) -> Check:
        last = self._last
        if last is None:
            return Check(ok=False, detail="not started: the loop has not beaten yet")
        age = self._clock() - last
        if age > self.max_age:
            return Check(
                ok=False, detail=f"stalled: last beat {age:.1f} s ago (max {self.max_age:g} s)"
            )
        return Check(ok=True, detail=f"last beat {age:.1f} s ago")

    async def run(self, interval: float = 1.0) -> None:
        """Beat every `interval` seconds until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval)


class Advancing:
    """Passes while a monotonic count (deliveries, records) moved within the last `within` seconds.

    The count is sampled when the check runs (probes come every few seconds), so no task is
    needed; it must have moved at least once since start (nothing delivered yet: not ready)."""

    def __init__(
        self, what: str, read: Callable[[], float], within: float, *, clock: Clock = time.monotonic
    ) -> None:
        self._what = what
        self._read = read
        self.within = within
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: float = 0.0
        self._moved_at: float | None = None

    def check(self) -> Check:
        with self._lock:
            value, now = self._read(), self._clock()
            if value != self._seen:
                self._seen, self._moved_at = value, now
            if self._moved_at is None:
                return Check(ok=False, detail=f"no {self._what} yet")
            age = now - self._moved_at
            if age > self.within:
                return Check(
                    ok=False,
                    detail=f"no {self._what} for {age:.1f} s (max {self.within:g} s); "
                    f"{value:g} in total",
                )
            return Check(
                ok=True, detail=f"{value:g} {self._what}; last seen moving {age:.1f} s ago"
            )


def counter_total(counter: Counter, **labels: str) -> Callable[[], float]:
    """A reader of one labelled child of `counter` (0 until it exists), for `Advancing`."""

    def read() -> float:
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and all(
                    sample.labels.get(key) == value for key, value in labels.items()
                ):
                    return sample.value
        return 0.0

    return read


class HealthServer(ThreadingHTTPServer):
    """`/metrics`, `/health/live` and `/health/ready` on `host:port`, served by a daemon thread."""

    daemon_threads = True

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self.address_family = family
        self.registry = registry
        self.health = health
        super().__init__((str(address[0]), int(address[1])), _Handler)
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.1},  # how soon `close()` is noticed
            name=f"health-{health.part}",
            daemon=True,
        )

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(5)
        self.server_close()


def serve(
    registry: CollectorRegistry, health: Health, host: str = "127.0.0.1", port: int = 0
) -> HealthServer:
    """Start serving in a thread; port 0 binds a free port (see `HealthServer.port`)."""
    return HealthServer(host, port, registry, health).start()


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer
    timeout = 10  # a client that sends nothing does not hold a thread for long
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = self.path.partition("?")[0]
        if path == METRICS_PATH:
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.server.registry), content_type, body=body)
            return
        report: HealthReport | None = None
        if path == LIVE_PATH:
            report = self.server.health.live()
        elif path == READY_PATH:
            report = self.server.health.ready()
        if report is None:
            problem = {
                "error": f"no such path {path}",
                "paths": [LIVE_PATH, READY_PATH, METRICS_PATH],
            }
            self._send(404, msgspec.json.encode(problem), "application/json", body=body)
            return
        code = 200 if report.status == "ok" else 503
        self._send(code, msgspec.json.encode(report), "application/json", body=body)

    def _send(self, code: int, payload: bytes, content_type: str, *, body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Probes come every few seconds: no access log (failing checks show in the answer)."""


def bound_url(server: HealthServer, host: str) -> str:
    """The base URL to print for `server` (a wildcard bind is shown as loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{server.port}"
