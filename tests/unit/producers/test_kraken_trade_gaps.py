"""Every hole in a symbol's trade ids is reported on md.status.v1 (not only counted), before the
trade after it; duplicates (a frame sent twice, a repeat after a reconnect) are dropped and are
no gap."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from prometheus_client import CollectorRegistry

from producers.exchanges.kraken.stream import KrakenStream
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import ConnectionState, ConnectionStatus, Record, Trade
from schemas.topics import TopicSpec


@dataclass
class OrderedPublisher:
    """Every record in publish order, whatever its topic."""

    records: list[tuple[str, Record]] = field(default_factory=list)

    async def publish(self, topic: TopicSpec, key: str, record: Record, timestamp_us: int) -> None:
        self.records.append((topic.name, record))

    def of_symbol(self, symbol: str) -> list[str]:
        """Trades as their ids and status reports as their details, for one symbol."""
        out: list[str] = []
        for _topic, record in self.records:
            if isinstance(record, Trade) and record.symbol == symbol:
                out.append(record.trade_id)
            elif isinstance(record, ConnectionStatus) and record.symbol == symbol:
                out.append(f"{record.state.value}: {record.detail}")
        return out


def trades_frame(symbol: str, *ids: int) -> bytes:
    data = [
        {
            "symbol": symbol,
            "side": "buy",
            "price": 100.5,
            "qty": 0.25,
            "ord_type": "limit",
            "trade_id": trade_id,
            "timestamp": "2023-09-25T07:48:36.925533Z",
        }
        for trade_id in ids
    ]
    return msgspec.json.encode({"channel": "trade", "type": "update", "data": data})


async def _resync(symbol: str, reason: str) -> None:
    raise AssertionError("trades never resync a book")


def stream_for(publisher: OrderedPublisher) -> tuple[KrakenStream, CollectorRegistry]:
    registry = CollectorRegistry()
    status = StatusReporter("kraken", publisher)
    status.state = ConnectionState.SUBSCRIBED
    stream = KrakenStream(
        10, publisher, status, ProducerMetrics(registry), _resync, ohlc_conflate_seconds=0
    )
    return stream, registry


def gaps(registry: CollectorRegistry, kind: str) -> float:
    value = registry.get_sample_value(
        "marketdata_producer_gaps_total", {"exchange": "kraken", "kind": kind}
    )
    return value or 0.0


async def test_every_trade_gap_is_reported_for_its_symbol_before_the_trade_after_it() -> None:
    publisher = OrderedPublisher()
    stream, registry = stream_for(publisher)

    await stream.on_frame(trades_frame("BTC/USD", 10, 11), 1)
    await stream.on_frame(trades_frame("BTC/USD", 15), 2)  # 12..14 lost
    await stream.on_frame(trades_frame("BTC/USD", 16, 18), 3)  # 17 lost, inside one frame

    assert publisher.of_symbol("BTC/USD") == [
        "10",
        "11",
        "subscribed: trade gap: 3 missing after 11",
        "15",
        "16",
        "subscribed: trade gap: 1 missing after 16",
        "18",
    ]
    assert gaps(registry, "trade") == 2


async def test_duplicates_and_repeats_after_a_reconnect_are_dropped_and_no_gap() -> None:
    publisher = OrderedPublisher()
    stream, registry = stream_for(publisher)

    await stream.on_frame(trades_frame("ETH/USD", 40, 41), 1)
    await stream.on_frame(trades_frame("ETH/USD", 40, 41), 2)  # the same frame twice
    await stream.on_frame(trades_frame("ETH/USD", 39, 40, 41, 42), 3)  # repeats, then news

    assert publisher.of_symbol("ETH/USD") == ["40", "41", "42"]
    assert gaps(registry, "trade") == 0
    assert gaps(registry, "trade_duplicate") == 5


async def test_gaps_are_per_symbol_and_a_symbol_first_trade_is_no_gap() -> None:
    publisher = OrderedPublisher()
    stream, registry = stream_for(publisher)

    await stream.on_frame(trades_frame("BTC/USD", 500), 1)
    await stream.on_frame(trades_frame("ETH/USD", 7), 2)
    await stream.on_frame(trades_frame("ETH/USD", 9), 3)
    await stream.on_frame(trades_frame("BTC/USD", 501), 4)

    assert publisher.of_symbol("BTC/USD") == ["500", "501"]
    assert publisher.of_symbol("ETH/USD") == ["7", "subscribed: trade gap: 1 missing after 7", "9"]
    assert gaps(registry, "trade") == 1
