"""The Kafka publisher against a stand-in client whose deliveries the test settles: order and
sequence numbers, an outage within and past the bound, a wedged client, refused records."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiokafka import errors as kafka_errors
from prometheus_client import CollectorRegistry

from marketdata.config import ProducerKafkaSettings
from producers.backlog import Entry
from producers.outage import OutageReport
from producers.publish import KafkaPublisher, PublishMetrics
from schemas import topics
from schemas.codec import Codec
from schemas.models import BookUpdate, PriceLevel, PriceTicker, RawFrame, Record, Trade, TradeSide

CODEC = Codec()


@dataclass
class Broker:
    """What Kafka holds: every record a client delivered, in delivery order."""

    log: list[tuple[str, str, Record]] = field(default_factory=list)

    def seqs(self, topic: str) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for t, key, record in self.log:
            if t == topic:
                out[key].append(record.seq)  # type: ignore[attr-defined]
        return out


@dataclass
class Pending:
    topic: str
    key: str
    value: bytes
    future: asyncio.Future[Any]


class FakeClient:
    """Takes records like aiokafka's producer; the test decides when and how they settle."""

    def __init__(self, broker: Broker, refuse_sends: int = 0) -> None:
        self.broker = broker
        self.pending: list[Pending] = []
        self.refuse_sends = refuse_sends
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def send(
        self, topic: str, value: bytes, *, key: bytes, timestamp_ms: int
    ) -> asyncio.Future[Any]:
        if self.refuse_sends:
            self.refuse_sends -= 1
            raise kafka_errors.KafkaTimeoutError()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append(Pending(topic, key.decode(), value, future))
        return future

    def ack(self, n: int | None = None) -> None:
        batch, self.pending = self.pending[:n], self.pending[len(self.pending[:n]) :]
        for p in batch:
            self.broker.log.append((p.topic, p.key, CODEC.decode(p.value, topic=p.topic)))
            p.future.set_result(None)

    def fail(self, exc: Exception, where: slice = slice(None), *, written: bool = False) -> None:
        """`written`: the broker wrote them, then the acknowledgement was lost."""
        for p in self.pending[where]:
            if written:
                self.broker.log.append((p.topic, p.key, CODEC.decode(p.value, topic=p.topic)))
            p.future.set_exception(exc)
        del self.pending[where]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall_us(self) -> int:
        return int(self.now * 1e6)


@dataclass
class Rig:
    publisher: KafkaPublisher
    clients: list[FakeClient]
    broker: Broker
    clock: Clock
    registry: CollectorRegistry
    reports: list[OutageReport]
    resyncs: list[str]

    @property
    def client(self) -> FakeClient:
        return self.clients[-1]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def rig(*, refuse_sends: int = 0, **overrides: Any) -> Rig:
    broker, clock = Broker(), Clock()
    clients: list[FakeClient] = []
    registry = CollectorRegistry()

    def make() -> FakeClient:
        clients.append(FakeClient(broker, refuse_sends if not clients else 0))
        return clients[-1]

    async def already_written(entries: Sequence[Entry], _acked: object, _since: int) -> set[int]:
        there = {(t, k, r.seq) for t, k, r in broker.log}  # type: ignore[attr-defined]
        return {e.order for e in entries if (e.topic, e.key, e.seq) in there}

    settings = ProducerKafkaSettings.model_validate({"outage_after_seconds": 2, **overrides})
    publisher = KafkaPublisher(
        make,
        CODEC,
        PublishMetrics(registry),
        settings,
        already_written=already_written,
        tick=3600,
        clock=clock.wall_us,
        monotonic=clock.monotonic,
    )
    reports: list[OutageReport] = []
    resyncs: list[str] = []

    async def on_end(report: OutageReport) -> None:
        reports.append(report)

    async def resync(symbol: str, reason: str) -> None:
        resyncs.append(symbol)

    publisher.on_outage_end(on_end)
    publisher.on_book_gap(resync)
    return Rig(publisher, clients, broker, clock, registry, reports, resyncs)


def ticker(symbol: str = "BTC/USD") -> PriceTicker:
    return PriceTicker(
        exchange="kraken", symbol=symbol, bid=1, bid_qty=1, ask=2, ask_qty=1, last=1,
        volume_24h=1, vwap_24h=1, high_24h=2, low_24h=1, change_24h=0,
        exchange_ts=1, received_ts=1,
    )  # fmt: skip


def trade(trade_id: int, symbol: str = "BTC/USD") -> Trade:
    return Trade(
        exchange="kraken", symbol=symbol, trade_id=str(trade_id), price=1.0, qty=1.0,
        side=TradeSide.BUY, exchange_ts=1, received_ts=1,
    )  # fmt: skip


def book(symbol: str = "BTC/USD", *, snapshot: bool = False) -> BookUpdate:
    level = [PriceLevel(1.0, 1.0)]
    return BookUpdate(
        exchange="kraken", symbol=symbol, is_snapshot=snapshot, bids=level, asks=level,
        depth=10, exchange_ts=1, received_ts=1,
    )  # fmt: skip


def raw() -> RawFrame:
    return RawFrame(
        exchange="kraken", channel="book", connection_id="c", payload=b"{}", received_ts=1
    )


async def publish(r: Rig, record: Record) -> None:
    topic = {
        PriceTicker: topics.TICKER, Trade: topics.TRADES, BookUpdate: topics.BOOK,
        RawFrame: topics.RAW,
    }[type(record)]  # fmt: skip
    key = f"kraken:{getattr(record, 'symbol', 'book')}"
    await r.publisher.publish(topic, key, record, 1_000_000)


def consecutive(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_records_reach_kafka_in_publish_order_with_per_key_sequence_numbers() -> None:
    r = rig()
    await r.publisher.start()
    for i in range(5):
        await publish(r, trade(i, "BTC/USD"))
        await publish(r, trade(i, "ETH/USD"))
    await settle()
    r.client.ack()
    await r.publisher.flush()

    trades = r.broker.seqs(topics.TRADES.name)
    assert set(trades) == {"kraken:BTC/USD", "kraken:ETH/USD"}
    assert all(consecutive(s) for s in trades.values())
    ids = [rec.trade_id for _t, k, rec in r.broker.log if k == "kraken:BTC/USD"]  # type: ignore[attr-defined]
    assert ids == ["0", "1", "2", "3", "4"]
    assert r.metric("marketdata_producer_published_records_total", topic="md.trades.v1") == 10
    await r.publisher.close()


async def test_an_outage_past_the_bound_sheds_by_policy_reports_it_and_resyncs_books() -> None:
    r = rig(buffer_max_records=100, merge_while_waiting=False)  # every delta on its own
    await r.publisher.start()
    await publish(r, book("ETH/USD", snapshot=True))
    for i in range(60):  # Kafka is gone: the client takes up to 50 records, and acks none
        await publish(r, trade(i))
        await publish(r, ticker())
        await publish(r, book(snapshot=i == 0))
        await publish(r, raw())
        await settle()  # the exchange reader waits for the next frame: the sender runs
    r.clock.now += 3
    await r.publisher.check()
    assert r.metric("marketdata_producer_kafka_up") == 0

    r.client.ack()  # Kafka is back
    for _ in range(5):
        await settle()
        r.client.ack()
    await r.publisher.check()
    await settle()
    r.client.ack()
    await r.publisher.flush()

    [report] = r.reports
    shed = {(s.topic, s.reason): s.records for s in report.shed}
    assert r.metric("marketdata_producer_kafka_up") == 1
    assert r.resyncs == ["BTC/USD"]
    assert report.resync == ("BTC/USD",)
    # Facts complete, in order; every gap in another topic is exactly what the report says.
    trades = r.broker.seqs(topics.TRADES.name)["kraken:BTC/USD"]
    assert len(trades) == 60
    assert consecutive(trades)
    for topic, key, sent in (
        (topics.TICKER.name, "kraken:BTC/USD", 60),
        (topics.BOOK.name, "kraken:BTC/USD", 60),
        (topics.RAW.name, "kraken:book", 60),
    ):
        seqs = r.broker.seqs(topic)[key]
        assert seqs == sorted(seqs)
        assert sent - len(seqs) == sum(n for (t, _), n in shed.items() if t == topic), topic
    assert shed[(topics.TICKER.name, "superseded")] > 0
    assert shed[(topics.RAW.name, "audit")] > 0
    assert r.broker.seqs(topics.BOOK.name)["kraken:ETH/USD"]  # delivered before the gate
    assert report.shed_records == sum(shed.values())
    assert "kafka outage: unavailable 3.0 s" in report.summary()
    await r.publisher.close()


async def test_after_a_book_gap_only_a_snapshot_opens_the_book_again() -> None:
    r = rig(buffer_max_records=100, merge_while_waiting=False)  # every delta on its own
    await r.publisher.start()
    for i in range(30):  # handed to the client before the backlog filled
        await publish(r, book(snapshot=i == 0))
        await settle()
    for _ in range(100):
        await publish(r, book())
    await settle()
    r.clock.now += 3
    await r.publisher.check()
    r.client.ack()
    await settle()
    r.client.ack()
    await r.publisher.check()
    await publish(r, book())  # before the fresh snapshot: dropped
    await publish(r, book(snapshot=True))
    await publish(r, book())
    await settle()
    r.client.ack()

    delivered = [rec for t, _k, rec in r.broker.log if t == topics.BOOK.name]
    assert [b.is_snapshot for b in delivered] == [True] + [False] * 29 + [True, False]  # type: ignore[attr-defined]
    seqs = [b.seq for b in delivered]  # type: ignore[attr-defined]
    assert consecutive(seqs[:30])
    assert consecutive(seqs[30:])
    assert seqs[30] - seqs[29] == 1 + 100 + 1  # the gap: what was shed, then the late delta
    assert r.resyncs == ["BTC/USD"]
    await r.publisher.close()


async def test_a_wedged_client_is_replaced_and_what_it_failed_goes_again_in_order() -> None:
    r = rig()
    await r.publisher.start()
    for i in range(6):
        await publish(r, trade(i))
    await settle()
    first = r.client
    first.ack(2)
    first.fail(kafka_errors.LeaderNotAvailableError(), slice(0, 1))
    first.fail(kafka_errors.OutOfOrderSequenceNumber())
    for i in range(6, 8):
        await publish(r, trade(i))
    await settle()
    r.client.ack()
    await r.publisher.flush()

    assert len(r.clients) == 2
    assert first.stopped
    ids = [rec.trade_id for _t, _k, rec in r.broker.log]  # type: ignore[attr-defined]
    assert ids == [str(i) for i in range(8)]
    assert consecutive(r.broker.seqs(topics.TRADES.name)["kraken:BTC/USD"])
    assert r.metric("marketdata_producer_kafka_client_restarts_total") == 1
    await r.publisher.close()


async def test_a_failed_batch_kafka_wrote_after_all_is_not_sent_twice() -> None:
    r = rig()
    await r.publisher.start()
    for i in range(5):
        await publish(r, trade(i))
    await settle()
    first = r.client
    first.ack(1)
    first.fail(kafka_errors.LeaderNotAvailableError(), slice(0, 2), written=True)
    first.fail(kafka_errors.OutOfOrderSequenceNumber())
    await settle()
    r.client.ack()
    await r.publisher.flush()

    assert len(r.clients) == 2
    ids = [rec.trade_id for _t, _k, rec in r.broker.log]  # type: ignore[attr-defined]
    assert ids == [str(i) for i in range(5)]
    assert r.metric("marketdata_producer_published_records_total", topic="md.trades.v1") == 5
    await r.publisher.close()


async def test_a_client_with_a_full_batch_is_asked_again_and_nothing_is_lost() -> None:
    r = rig(refuse_sends=3)
    await r.publisher.start()
    for i in range(3):
        await publish(r, trade(i))
    await settle()
    r.client.ack()
    await r.publisher.flush()

    assert [rec.trade_id for _t, _k, rec in r.broker.log] == ["0", "1", "2"]  # type: ignore[attr-defined]
    await r.publisher.close()


async def test_a_record_kafka_refuses_is_shed_and_counted_and_the_rest_goes_on() -> None:
    r = rig()
    await r.publisher.start()
    for i in range(3):
        await publish(r, trade(i))
    await settle()
    r.client.fail(kafka_errors.MessageSizeTooLargeError(), slice(1, 2))
    r.client.ack()
    await r.publisher.flush()

    assert [rec.trade_id for _t, _k, rec in r.broker.log] == ["0", "2"]  # type: ignore[attr-defined]
    labels = {"topic": topics.TRADES.name, "reason": "rejected"}
    assert r.metric("marketdata_producer_shed_records_total", **labels) == 1
    await r.publisher.close()


async def test_an_unknown_delivery_failure_is_fatal() -> None:
    r = rig()
    await r.publisher.start()
    await publish(r, trade(0))
    await settle()
    r.client.fail(kafka_errors.TopicAuthorizationFailedError())
    await settle()

    with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
        await publish(r, trade(1))
    with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
        await r.publisher.failed()
    await r.publisher.close()


async def test_facts_wait_for_room_and_go_in_publish_order() -> None:
    r = rig(buffer_max_records=100)
    await r.publisher.start()
    for i in range(100):
        await publish(r, trade(i))
    waiting = [asyncio.create_task(publish(r, trade(i))) for i in range(100, 110)]
    await settle()
    assert not any(t.done() for t in waiting)
    r.clock.now += 1

    while len(r.broker.log) < 110:
        r.client.ack()
        await settle()
    await asyncio.gather(*waiting)

    ids = [int(rec.trade_id) for _t, _k, rec in r.broker.log]  # type: ignore[attr-defined]
    assert ids == list(range(110))
    assert consecutive(r.broker.seqs(topics.TRADES.name)["kraken:BTC/USD"])
    assert r.metric("marketdata_producer_backpressure_seconds_total") > 0
    await r.publisher.close()


def delta(price: float, qty: float, symbol: str = "BTC/USD") -> BookUpdate:
    return BookUpdate(
        exchange="kraken", symbol=symbol, is_snapshot=False, bids=[PriceLevel(price, qty)],
        asks=[], depth=10, exchange_ts=int(price), received_ts=int(price),
    )  # fmt: skip


async def test_a_book_delta_merges_into_its_keys_delta_while_that_still_waits() -> None:
    r = rig()
    await r.publisher.start()
    await publish(r, book(snapshot=True))
    await publish(r, delta(2.0, 1.0))  # a burst: the sender has not run in between
    await publish(r, delta(3.0, 1.0))
    await publish(r, delta(2.0, 0.0))
    await publish(r, delta(5.0, 1.0, symbol="ETH/USD"))  # another key: its own record
    await settle()  # the sender hands the waiting records over
    await publish(r, delta(4.0, 1.0))  # its key's last delta is with the client: no merge
    await settle()
    r.client.ack()
    await r.publisher.flush()

    btc = [rec for _t, k, rec in r.broker.log if k == "kraken:BTC/USD"]
    assert [(b.is_snapshot, [(lv.price, lv.qty) for lv in b.bids]) for b in btc] == [  # type: ignore[attr-defined]
        (True, [(1.0, 1.0)]),
        (False, [(3.0, 1.0), (2.0, 0.0)]),  # 2.0 added then removed: its last state
        (False, [(4.0, 1.0)]),
    ]
    assert btc[1].exchange_ts == 2  # type: ignore[attr-defined]  # the newest delta's times
    assert consecutive(r.broker.seqs(topics.BOOK.name)["kraken:BTC/USD"])  # no gap
    assert r.metric("marketdata_producer_merged_records_total", topic="md.book.v1") == 2
    assert r.metric("marketdata_producer_accepted_records_total", topic="md.book.v1") == 4
    await r.publisher.close()


async def test_a_ticker_takes_the_place_of_its_keys_waiting_ticker() -> None:
    r = rig()
    await r.publisher.start()
    for bid in (1.0, 2.0, 3.0):  # a burst: the sender has not run in between
        await publish(r, msgspec.structs.replace(ticker(), bid=bid))
    await settle()
    await publish(r, msgspec.structs.replace(ticker(), bid=4.0))  # the last one is handed over
    await settle()
    r.client.ack()
    await r.publisher.flush()

    tickers = [rec for t, _k, rec in r.broker.log if t == topics.TICKER.name]
    assert [t.bid for t in tickers] == [3.0, 4.0]  # type: ignore[attr-defined]
    assert consecutive(r.broker.seqs(topics.TICKER.name)["kraken:BTC/USD"])
    assert r.metric("marketdata_producer_merged_records_total", topic="md.ticker.v1") == 2
    await r.publisher.close()
