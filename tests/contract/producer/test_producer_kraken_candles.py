"""md.ohlc.v1 from the Kraken adapter against the simulator: the exchange's forming candles,
conflated, checked against the frames the exchange sent (kept on md.raw.v1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pytest

from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from schemas.models import OHLCV, RawFrameItem, RawFrames
from tests.contract.producer.producer_harness import running_producer, wait_for

pytestmark = pytest.mark.slow

Key = tuple[str, str]  # (symbol, timeframe)
CONFLATED = "marketdata_producer_conflated_records_total"


def frames(records: Iterable[object]) -> list[RawFrameItem]:
    """Every frame kept on md.raw.v1, in the order received."""
    return [item for r in records if isinstance(r, RawFrames) for item in r.frames]


def _in_order_within(part: Iterable[OHLCV], whole: Iterable[OHLCV]) -> bool:
    """Every element of `part` occurs in `whole`, in the same order (a subsequence)."""
    rest = iter(whole)
    return all(any(candle == other for other in rest) for candle in part)


async def test_forming_candles_are_conflated_in_order_and_each_window_ends_on_its_final() -> None:
    def conflated() -> float:
        return run.metric(CONFLATED, exchange="kraken", topic="md.ohlc.v1")

    async with running_producer() as run:  # ohlcConflateMs: the default, 500
        await wait_for(lambda: conflated() >= 30, what="candles conflated")
    # Stopped: what was held back has been drained.
    p = run.published
    sent: dict[Key, list[OHLCV]] = defaultdict(list)
    for raw in frames(p.of("md.raw.v1")):
        if raw.channel == "ohlc":
            msg = m.decode_frame(raw.payload)
            assert isinstance(msg, m.KrakenOhlcMsg)
            for candle in parse.parse_ohlc(msg, raw.received_ts, run.adapter.stream.precision_of):
                sent[(candle.symbol, candle.timeframe)].append(candle)
    from_stream = {candle for candles in sent.values() for candle in candles}
    published: dict[Key, list[OHLCV]] = defaultdict(list)
    for record in p.of("md.ohlc.v1"):  # REST history aside
        if isinstance(record, OHLCV) and record in from_stream:
            published[(record.symbol, record.timeframe)].append(record)

    assert published.keys() == sent.keys()
    for key, candles in sent.items():
        assert _in_order_within(published[key], candles), f"{key}: out of order or invented"
        finals = {candle.open_ts: candle for candle in candles}  # the last one of each window
        assert {candle.open_ts: candle for candle in published[key]} == finals, key
    # Every candle the exchange sent was published or counted as conflated, never both.
    assert sum(map(len, sent.values())) - sum(map(len, published.values())) == conflated()


async def test_only_the_shortest_interval_streams_live_while_every_interval_has_history() -> None:
    async with running_producer(ohlc_intervals=[1, 5, 15]) as run:
        p = run.published

        def live() -> list[int]:
            return [
                item.interval
                for raw in frames(p.of("md.raw.v1"))
                if raw.channel == "ohlc"
                for item in m.decode_frame(raw.payload).data  # type: ignore[union-attr]
            ]

        def timeframes() -> set[str]:
            return {r.timeframe for r in p.of("md.ohlc.v1") if isinstance(r, OHLCV)}

        await wait_for(lambda: timeframes() == {"1m", "5m", "15m"}, what="every interval's history")
        await wait_for(lambda: len(live()) >= 20, what="live candles")
    assert set(live()) == {1}  # the exchange sent candles of the one live interval only
