"""Prometheus metrics plumbing: one registry per process, exposed on `/metrics`.

Metric names follow `marketdata_<component>_<what>_<unit>`; counters end in `_total`; labels come
only from closed sets. Each part builds its own metrics on the registry it is handed (no
module-level globals), so tests get a fresh registry each time.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from marketdata import __version__
from marketdata.health import Health, serve


def new_registry(part: str) -> CollectorRegistry:
    """A fresh registry carrying the build info of this part."""
    registry = CollectorRegistry(auto_describe=True)
    info = Gauge(
        "marketdata_build_info",
        "Version and part of this process (always 1).",
        ["version", "part"],
        registry=registry,
    )
    info.labels(version=__version__, part=part).set(1)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a `/metrics` answer (for the API's own route)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> int:
    """Serve `/metrics` alone (no health checks) from a thread; returns the bound port.

    Port 0 disables the endpoint (returns 0). Parts with checks use `marketdata.health.serve`.
    """
    if port == 0:
        return 0
    return serve(registry, Health("metrics"), host, port).port
