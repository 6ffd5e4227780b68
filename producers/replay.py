"""`marketdata replay`: the exchange's own frames (md.raw.v1) through today's parse layer again.

md.raw.v1 holds every frame the producer received, per connection and in order. Replaying them
through a fresh `KrakenStream` (the same code the live adapter runs, books, checksums, trade-gap
checks and all) gives the records the producer would publish for them now: to audit what was
published, or to see what a parser fix changes, without touching the exchange or the live topics.

- `read_frames` reads the raw batches of a time window (by the time each frame was received),
  partition by partition: a connection's frames all live in its key's partition, in order.
- `replay` feeds them to a stream whose publisher hands each record to a sink as it is made
  (raw copies excepted) and returns counts, the trades and what the stream saw on the way
  (parse errors, checksum mismatches and the resyncs they asked for, trade gaps).
- `verify_trades` compares the replayed trades with md.trades.v1 by trade id: missing there,
  different there, or there and not in the replay (within the replay's range of ids).

Nothing is written to Kafka. Only Kraken has raw frames today.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from producers.errors import ParseError
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken.stream import EXCHANGE, KrakenStream
from producers.status import ProducerMetrics, StatusReporter
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.models import RawFrames, Record, Trade
from schemas.topics import TopicSpec

RAW_SLACK_US = 60_000_000
"""A raw batch is stamped with its last frame's receipt and closes at most `rawBatchMs` after
its first: batches stamped up to this long after the window still hold frames inside it."""


def within(received_ts: int, since_us: int | None, until_us: int | None) -> bool:
    """Received in the window [since, until) (either end open)."""
    return (since_us is None or received_ts >= since_us) and (
        until_us is None or received_ts < until_us
    )


@dataclass(frozen=True, slots=True)
class Frame:
    connection: str
    payload: bytes
    received_ts: int


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    key: str
    record: Record


Sink = Callable[[Published], None]


class _Keeper:
    """A publisher that hands records to a sink instead of sending them, counting them per
    topic and keeping the trades (raw copies are dropped: they are what is being replayed)."""

    def __init__(self, sink: Sink | None) -> None:
        self.sink = sink
        self.per_topic: Counter[str] = Counter()
        self.trades: list[Trade] = []

    async def publish(self, topic: TopicSpec, key: str, record: Record, timestamp_us: int) -> None:
        if topic is topics.RAW:
            return
        self.per_topic[topic.name] += 1
        if isinstance(record, Trade):
            self.trades.append(record)
        if self.sink is not None:
            self.sink(Published(topic.name, key, record))


@dataclass(slots=True)
class Replayed:
    frames: int = 0
    before_snapshot: int = 0
    """Book updates skipped: the window began after their book's snapshot, so the book cannot
    be rebuilt until the next one (a resync or a reconnect)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Records per topic."""
    trades: list[Trade] = field(default_factory=list)
    parse_errors: int = 0
    checksum_mismatches: int = 0
    resyncs: list[tuple[str, str]] = field(default_factory=list)
    """(symbol, reason) of every book resync the stream asked for."""
    gaps: dict[str, int] = field(default_factory=dict)

    def per_topic(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


async def replay(
    frames: AsyncIterator[Frame] | Iterable[Frame], book_depth: int, sink: Sink | None = None
) -> Replayed:
    """Run frames, in the order received, through a fresh Kraken stream keeping books as deep
    as the producer that received them (`bookDepth`: its book subscriptions had that depth).
    Each record goes to `sink` as it is made (nothing else is kept but the trades)."""
    keeper, registry = _Keeper(sink), CollectorRegistry()
    metrics = ProducerMetrics(registry)
    out = Replayed()
    stream: KrakenStream

    async def resync(symbol: str, reason: str) -> None:
        # What the live session does to the book; the exchange's fresh snapshot that answered
        # the live resync is among the frames that follow.
        out.resyncs.append((symbol, reason))
        stream.books.await_snapshot(symbol)

    stream = KrakenStream(
        book_depth,
        keeper,
        StatusReporter(EXCHANGE, keeper),
        metrics,
        resync,
        ohlc_conflate_seconds=0.0,
    )
    snapshots: set[str] = set()
    async for frame in _aiter(frames):
        out.frames += 1
        if _before_snapshot(frame.payload, snapshots):
            out.before_snapshot += 1
            continue
        await stream.on_frame(frame.payload, frame.received_ts, frame.connection)
    await stream.drain()
    out.counts, out.trades = dict(keeper.per_topic), keeper.trades
    labels = {"exchange": EXCHANGE}
    value = registry.get_sample_value
    out.parse_errors = int(value("marketdata_producer_parse_errors_total", labels) or 0)
    out.checksum_mismatches = int(value("marketdata_producer_checksum_failures_total", labels) or 0)
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "marketdata_producer_gaps_total" and sample.value:
                out.gaps[sample.labels["kind"]] = int(sample.value)
    return out


def _before_snapshot(payload: bytes, snapshots: set[str]) -> bool:
    """True for a book update of books whose snapshot this replay has not seen (noting every
    snapshot on the way)."""
    if b'"book"' not in payload:
        return False
    try:
        msg = m.decode_frame(payload)
    except ParseError:
        return False  # the stream counts it
    if not isinstance(msg, m.KrakenBookMsg):
        return False
    symbols = {d.symbol for d in msg.data}
    if msg.type == "snapshot":
        snapshots |= symbols
        return False
    return not symbols & snapshots


async def _aiter(frames: AsyncIterator[Frame] | Iterable[Frame]) -> AsyncIterator[Frame]:
    if isinstance(frames, AsyncIterator):
        async for frame in frames:
            yield frame
    else:
        for frame in frames:
            yield frame


async def read_frames(
    consumer: AIOKafkaConsumer, since_us: int | None, until_us: int | None, codec: Codec
) -> AsyncIterator[Frame]:
    """The raw frames received in [since, until) (either end open), partition by partition in
    offset order, after the instrument frame in force at `since` (the newest one received
    before it: instruments carry the precisions every price is parsed with, and are sent only
    when a connection starts). `consumer` is started and group-less; it is assigned here."""
    if since_us is not None:
        for frame in await instruments_before(consumer, since_us, codec):
            yield frame
    async for value in read_topic(consumer, topics.RAW, since_us, until_us, slack_us=RAW_SLACK_US):
        for frame in _frames(value, codec):  # an undecodable record is the DLQ's business
            if within(frame.received_ts, since_us, until_us):
                yield frame


async def instruments_before(
    consumer: AIOKafkaConsumer, since_us: int, codec: Codec, *, step: int = 64
) -> list[Frame]:
    """The instrument frames of the newest stretch of md.raw.v1 before `since` that holds any
    (a connection's snapshot, with any updates after it), in the order received: each partition
    is read backwards from the offset at `since`, in growing steps."""
    tps = [TopicPartition(topics.RAW.name, p) for p in range(topics.RAW.partitions)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    firsts = await consumer.beginning_offsets(tps)
    at = await consumer.offsets_for_times(dict.fromkeys(tps, since_us // 1000))
    best: list[Frame] = []
    for tp in tps:
        upper = at[tp].offset if at[tp] is not None else ends[tp]
        size = step
        while upper > firsts[tp]:
            lower = max(firsts[tp], upper - size)
            found = [
                f
                for value in await _values(consumer, tp, lower, upper)
                for f in _frames(value, codec)
                if f.received_ts < since_us and _is_instrument(f.payload)
            ]
            if found:
                if not best or found[-1].received_ts > best[-1].received_ts:
                    best = sorted(found, key=lambda f: f.received_ts)
                break
            upper, size = lower, size * 4
    return best


def _is_instrument(payload: bytes) -> bool:
    if b'"instrument"' not in payload:
        return False
    try:
        return isinstance(m.decode_frame(payload), m.KrakenInstrumentMsg)
    except ParseError:
        return False


async def _values(
    consumer: AIOKafkaConsumer, tp: TopicPartition, lower: int, upper: int
) -> list[bytes]:
    consumer.seek(tp, lower)
    out: list[bytes] = []
    while await consumer.position(tp) < upper:
        batch = await consumer.getmany(tp, timeout_ms=1000)
        out += [r.value for r in batch.get(tp, []) if r.offset < upper]
    return out


def _frames(value: bytes, codec: Codec) -> list[Frame]:
    try:
        batch = codec.decode_as(value, RawFrames)
    except DecodeError:
        return []
    if batch.exchange != EXCHANGE:
        return []
    return [Frame(batch.connection_id, f.payload, f.received_ts) for f in batch.frames]


async def read_topic(
    consumer: AIOKafkaConsumer,
    spec: TopicSpec,
    since_us: int | None,
    until_us: int | None,
    *,
    slack_us: int = 0,
) -> AsyncIterator[bytes]:
    """Values of one topic from the first record stamped at `since - slack` up to the end
    offsets at the call, partition by partition. A record stamped after `until + slack` ends
    its partition early: pass `until_us` only for a topic stamped in the order it was written
    (md.raw.v1, stamped on receipt). Exchange time is not that order: one record stamped
    ahead (a skewed exchange clock) would end the read before the records after it."""
    tps = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    if since_us is not None:
        found = await consumer.offsets_for_times(
            {tp: max(0, (since_us - slack_us) // 1000) for tp in tps}
        )
        starts = {tp: (found[tp].offset if found[tp] is not None else ends[tp]) for tp in tps}
    for tp in tps:
        if starts[tp] >= ends[tp]:
            continue
        consumer.seek(tp, starts[tp])
        done = False
        while not done:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if message.offset >= ends[tp]:
                    done = True
                    break
                if until_us is not None and message.timestamp * 1000 >= until_us + slack_us:
                    done = True
                    break
                yield message.value
            done = done or await consumer.position(tp) >= ends[tp]


@dataclass(slots=True)
class TradeCheck:
    compared: int = 0
    missing: list[Trade] = field(default_factory=list)
    """Replayed, not in md.trades.v1."""
    different: list[tuple[Trade, Trade]] = field(default_factory=list)
    """(replayed, published) with the same id and different content."""
    unexplained: list[Trade] = field(default_factory=list)
    """In md.trades.v1 within the replay's ids, not replayed."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.different or self.unexplained)


def verify_trades(
    replayed: Iterable[Record],
    published: Iterable[Record],
    since_us: int | None = None,
    until_us: int | None = None,
) -> TradeCheck:
    """Replayed trades against the published ones received in the same window, by (symbol,
    trade id). Sequence numbers are left out (each producer run numbers its own records);
    everything else must be equal, the time the producer received the frame included."""
    ours: dict[tuple[str, str], Trade] = {}
    for r in replayed:
        if isinstance(r, Trade):
            ours[(r.symbol, r.trade_id)] = _plain(r)
    ids: dict[str, list[int]] = defaultdict(list)
    for symbol, trade_id in ours:
        if trade_id.isdigit():
            ids[symbol].append(int(trade_id))
    ranges = {s: (min(v), max(v)) for s, v in ids.items()}
    check = TradeCheck()
    theirs: dict[tuple[str, str], Trade] = {}
    for r in published:
        if not isinstance(r, Trade) or r.exchange != EXCHANGE:
            continue
        if not within(r.received_ts, since_us, until_us):
            continue
        theirs[(r.symbol, r.trade_id)] = _plain(r)
    for key, trade in ours.items():
        check.compared += 1
        other = theirs.get(key)
        if other is None:
            check.missing.append(trade)
        elif other != trade:
            check.different.append((trade, other))
    for key, trade in theirs.items():
        low_high = ranges.get(trade.symbol)
        if key in ours or low_high is None or not trade.trade_id.isdigit():
            continue
        if low_high[0] <= int(trade.trade_id) <= low_high[1]:
            check.unexplained.append(trade)
    return check


def _plain(trade: Trade) -> Trade:
    return msgspec.structs.replace(trade, seq=0)
