"""The API's own metrics: fan-out counters and WebSocket clients, read from the hub at scrape
time (a custom collector: the hub keeps plain integers on its hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from query_api.ws.fanout import Hub


class FanoutCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        stats = self._hub.stats
        clients = GaugeMetricFamily(
            "marketdata_api_websocket_clients", "WebSocket and SignalR clients connected."
        )
        clients.add_metric([], self._hub.clients)
        yield clients
        for name, doc, value in (
            ("published", "Updates handed to the fan-out.", stats.published),
            ("delivered", "Frames sent to clients.", stats.delivered),
            (
                "conflated",
                "Queued updates replaced by a newer one (prices, books).",
                stats.conflated,
            ),
            ("slow_closed", "Clients closed because their queue was full.", stats.dropped_slow),
            ("timed_out", "Clients closed because a send missed its deadline.", stats.timed_out),
            ("disconnected", "Clients that went away.", stats.disconnected),
        ):
            family = CounterMetricFamily(f"marketdata_api_fanout_{name}", doc)
            family.add_metric([], value)
            yield family


def register_fanout(registry: CollectorRegistry, hub: Hub) -> None:
    registry.register(FanoutCollector(hub))
