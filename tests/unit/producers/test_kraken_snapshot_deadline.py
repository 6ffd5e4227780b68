"""A book snapshot that never comes (lost while the connection stalled right after the
subscription, or a rejected request) is asked for again, reported and counted as a resync, with
a deadline that grows while it keeps getting lost; on a fake clock, with the requests recorded
instead of sent."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from marketdata.config import ExchangeSettings
from producers.exchanges.kraken import ws as kraken_ws
from producers.exchanges.kraken.books import KrakenBooks
from producers.exchanges.kraken.rest import KrakenRest
from producers.exchanges.kraken.ws import KrakenWs
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import ConnectionState, ConnectionStatus
from tests.contract.producer.producer_harness import RecordingPublisher
from tests.unit.producers.test_kraken_books import FakeClock
from tests.unit.producers.test_kraken_checksum_book import SNAPSHOT_ASKS, SNAPSHOT_BIDS

SYMBOLS = ["BTC/USD", "ETH/USD"]


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **settings: object) -> None:
        monkeypatch.setattr(kraken_ws, "SNAPSHOT_STAGGER_SECONDS", 0.0)
        self.clock = FakeClock()
        self.books = KrakenBooks(10, clock=self.clock)
        self.published = RecordingPublisher()
        self.registry = CollectorRegistry()
        self.sent: list[dict[str, Any]] = []
        self.wanted = list(SYMBOLS)  # the adapter's desired state, shared
        self.status = StatusReporter("kraken", self.published)
        base: dict[str, object] = {
            "ws_url": "ws://127.0.0.1:9/v2",
            "heartbeat_timeout_seconds": 3.0,  # the first deadline: a third of it
            "backoff": {"initial_seconds": 0.05, "max_seconds": 4.0, "multiplier": 2.0},
        }
        self.ws = KrakenWs(
            ExchangeSettings.model_validate({**base, **settings}),
            wanted=self.wanted,
            books=self.books,
            rest=cast(KrakenRest, None),  # only the private session asks REST (for a token)
            on_frame=self._ignore_frame,
            status=self.status,
            metrics=ProducerMetrics(self.registry),
            spawn=self._spawn,
            on_public_disconnect=self._nothing,
        )
        monkeypatch.setattr(self.ws.public, "send", self._send)
        self.ws.public.connected.set()

    async def _send(self, text: str) -> None:
        self.sent.append(msgspec.json.decode(text))

    async def _ignore_frame(self, frame: str | bytes, received_ts: int) -> None:
        return None

    async def _nothing(self) -> None:
        return None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.get_running_loop().create_task(coro)

    def requests(self) -> list[tuple[str, str]]:
        """(method, symbol) of every book request sent so far, and forget them."""
        sent, self.sent = self.sent, []
        return [(r["method"], r["params"]["symbol"][0]) for r in sent]

    def resyncs(self) -> float:
        value = self.registry.get_sample_value(
            "marketdata_producer_resyncs_total", {"exchange": "kraken"}
        )
        return value or 0.0

    def reports(self) -> list[ConnectionStatus]:
        return [s for s in self.published.of("md.status.v1") if isinstance(s, ConnectionStatus)]


def test_the_first_deadline_derives_from_the_heartbeat_timeout_and_backs_off_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deadline = Harness(monkeypatch).ws.snapshot_deadline
    assert [deadline(misses) for misses in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    # A reconnect cap below the first deadline never shortens it.
    tight = Harness(monkeypatch, backoff={"initial_seconds": 0.05, "max_seconds": 0.5})
    assert tight.ws.snapshot_deadline(3) == 1.0


async def test_a_lost_snapshot_is_asked_for_again_reported_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.books.await_snapshot("BTC/USD")  # subscribed; the answer is lost

    h.clock.now += 0.9
    await h.ws.check_snapshots()
    assert h.requests() == []
    h.clock.now += 0.1
    await h.ws.check_snapshots()

    assert h.requests() == [("unsubscribe", "BTC/USD"), ("subscribe", "BTC/USD")]
    assert h.resyncs() == 1
    [report] = h.reports()
    assert report.state is ConnectionState.RESYNCING
    assert report.symbol == "BTC/USD"
    assert "no snapshot 1.0s after asking" in report.detail


async def test_a_snapshot_that_keeps_getting_lost_is_asked_for_ever_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.books.await_snapshot("BTC/USD")
    asked_at: list[float] = []
    for _ in range(60):  # 15 s in quarter seconds, as the watcher checks
        h.clock.now += 0.25
        await h.ws.check_snapshots()
        if h.requests():
            asked_at.append(h.clock.now - 100.0)
    # Deadlines 1, 2, 4, then the cap (the reconnect back-off's maxSeconds) 4, 4.
    assert asked_at == [1.0, 3.0, 7.0, 11.0, 15.0]
    assert h.resyncs() == 5

    # The snapshot comes at last: the next wait starts from the first deadline again.
    assert h.books.apply("BTC/USD", True, SNAPSHOT_BIDS, SNAPSHOT_ASKS, 3310070434, 1, 8)
    h.clock.now += 30.0
    await h.ws.check_snapshots()
    assert h.requests() == []
    h.books.await_snapshot("BTC/USD")
    h.clock.now += 1.0
    await h.ws.check_snapshots()
    assert h.requests() == [("unsubscribe", "BTC/USD"), ("subscribe", "BTC/USD")]


async def test_overdue_books_are_asked_for_one_at_a_time_and_only_while_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    for symbol in SYMBOLS:
        h.books.await_snapshot(symbol)
    h.ws.public.connected.clear()
    h.clock.now += 5.0
    await h.ws.check_snapshots()
    assert h.requests() == [], "while the stream is down the reconnect asks for every snapshot"
    assert h.resyncs() == 0

    h.ws.public.connected.set()
    await h.ws.check_snapshots()
    assert h.requests() == [
        ("unsubscribe", "BTC/USD"),
        ("subscribe", "BTC/USD"),
        ("unsubscribe", "ETH/USD"),
        ("subscribe", "ETH/USD"),
    ]
    assert h.resyncs() == 2
    assert [r.symbol for r in h.reports()] == SYMBOLS


async def test_a_book_unsubscribed_meanwhile_is_not_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    h.books.await_snapshot("ETH/USD")
    h.wanted.remove("ETH/USD")  # unsubscribed while the check runs
    h.clock.now += 5.0
    await h.ws.check_snapshots()
    assert h.requests() == []


async def test_a_resynced_book_is_reported_live_again_once_its_snapshot_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(monkeypatch)
    await h.status.report(ConnectionState.SUBSCRIBED, "BTC/USD, ETH/USD")
    for symbol in SYMBOLS:
        await h.ws.resync(symbol, "checksum 1 != 2")
    h.wanted.remove("ETH/USD")  # unsubscribed while resyncing: never reported live

    await h.ws.check_snapshots()
    assert [(r.state, r.symbol) for r in h.reports()[1:]] == [
        (ConnectionState.RESYNCING, "BTC/USD"),
        (ConnectionState.RESYNCING, "ETH/USD"),
    ], "still awaiting the snapshots: nothing more to say"

    assert h.books.apply("BTC/USD", True, SNAPSHOT_BIDS, SNAPSHOT_ASKS, 3310070434, 1, 8)
    await h.ws.check_snapshots()
    await h.ws.check_snapshots()
    live = h.reports()[3:]
    assert [(r.state, r.symbol, r.detail) for r in live] == [
        (ConnectionState.SUBSCRIBED, "BTC/USD", "book resynced")
    ]
