"""One symbol's candle series: trades, exchange history, the partial first window, reconciliation,
gaps, replays and throttled forming candles."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.config.processors import IndicatorSettings
from processors.candles import MINUTE_US
from processors.series import (
    SymbolSeries,
    candles_agree,
    flush_forming,
    on_exchange_candle,
    on_trade,
)
from schemas.models import OHLCV, CandleSource, Trade, TradeSide

T0 = 1_796_000_000_000_000 - 1_796_000_000_000_000 % (60 * MINUTE_US)  # an hour boundary
GRACE = 2_000_000


def series(forming_every_us: int = 0, timeframes: tuple[str, ...] = ("1m",)) -> SymbolSeries:
    return SymbolSeries.new(
        "kraken", "BTC/USD", timeframes, GRACE, IndicatorSettings(), forming_every_us
    )


def trade(ts: int, price: float, qty: float = 1.0, n: int = 0) -> Trade:
    return Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id=str(n or ts),
        price=price,
        qty=qty,
        side=TradeSide.BUY,
        exchange_ts=ts,
        received_ts=ts + 1000,
        price_precision=1,
        size_precision=8,
    )


def candle(
    open_ts: int, close: float, *, closed: bool, volume: float = 1.0, tf: str = "1m"
) -> OHLCV:
    return OHLCV(
        exchange="kraken",
        symbol="BTC/USD",
        timeframe=tf,
        open_ts=open_ts,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=volume,
        exchange_ts=open_ts + 30_000_000,
        received_ts=open_ts + 31_000_000,
        trades=1,
        closed=closed,
        price_precision=1,
        size_precision=8,
    )


def closed(step_candles: list[OHLCV]) -> list[OHLCV]:
    return [c for c in step_candles if c.closed]


def test_exchange_history_seeds_candles_and_warms_indicators_before_any_trade() -> None:
    s = series()
    published = []
    for i in range(30):
        published += on_exchange_candle(
            s, candle(T0 + i * MINUTE_US, 100.0 + i, closed=True)
        ).candles
    assert [c.open_ts for c in published] == [T0 + i * MINUTE_US for i in range(30)]
    assert all(c.closed and c.source is CandleSource.EXCHANGE for c in published)
    state = s.indicators["1m"]
    assert state.closed == 30
    assert state.rsi.diffs == 29
    # replayed history (a restarted producer backfills again) publishes nothing twice
    assert on_exchange_candle(s, candle(T0 + 5 * MINUTE_US, 105.0, closed=True)).candles == []


def test_an_open_exchange_candle_becomes_final_when_the_next_window_appears() -> None:
    s = series()
    on_trade(s, trade(T0 + 1, 100.0))  # partial first window
    on_trade(s, trade(T0 + MINUTE_US + 1, 101.0))
    on_trade(s, trade(T0 + 2 * MINUTE_US + GRACE + 1, 102.0))  # ours for T0+1m closes
    assert on_exchange_candle(s, candle(T0 + MINUTE_US, 101.0, closed=False)).reconciled == 0
    step = on_exchange_candle(s, candle(T0 + 2 * MINUTE_US, 102.0, closed=False))
    assert step.reconciled == 1  # the stream moved on: the exchange's T0+1m is final


def test_the_streams_opening_snapshot_does_not_block_the_older_history() -> None:
    s = series()
    for i in range(90, 100):  # the stream's snapshot of recent windows arrives first
        assert on_exchange_candle(s, candle(T0 + i * MINUTE_US, 150.0, closed=False)).candles == []
    seeded = []
    for i in range(99):  # then the REST backfill
        seeded += on_exchange_candle(s, candle(T0 + i * MINUTE_US, 100.0 + i, closed=True)).candles
    assert [c.open_ts for c in seeded] == [T0 + i * MINUTE_US for i in range(99)]
    assert s.indicators["1m"].closed == 99


def test_the_partial_first_window_is_replaced_by_the_exchanges_candle_when_it_closes() -> None:
    s = series()
    on_exchange_candle(s, candle(T0, 100.0, closed=False, volume=9.0))  # forming at the exchange
    on_trade(s, trade(T0 + 50_000_000, 100.5))  # our feed starts late in the window
    on_exchange_candle(s, replace_close(candle(T0, 100.5, closed=False, volume=10.0)))
    step = on_trade(s, trade(T0 + MINUTE_US + GRACE + 1, 101.0))
    (first,) = closed(step.candles)
    assert (first.open_ts, first.volume, first.source) == (T0, 10.0, CandleSource.EXCHANGE)
    assert step.reconciled == 0
    assert step.mismatched == 0


def replace_close(c: OHLCV) -> OHLCV:
    return msgspec.structs.replace(c, exchange_ts=c.exchange_ts + 1)


def test_a_closed_1m_candle_equal_to_the_exchanges_is_reconciled() -> None:
    s = series()
    on_trade(s, trade(T0 + 1, 100.0))  # first (partial) window
    on_trade(s, trade(T0 + MINUTE_US + 1, 101.0, 2.0))
    on_trade(s, trade(T0 + MINUTE_US + 10, 102.0, 1.0))
    theirs = msgspec.structs.replace(
        candle(T0 + MINUTE_US, 101.0, closed=True, volume=3.0), high=102.0, close=102.0
    )
    on_exchange_candle(s, theirs)
    step = on_trade(s, trade(T0 + 2 * MINUTE_US + GRACE + 1, 103.0))
    assert step.reconciled == 1
    assert step.mismatched == 0
    assert step.alerts == []


def test_a_mismatch_is_counted_and_alerted_and_the_next_match_clears_the_alert() -> None:
    s = series()
    on_trade(s, trade(T0 + 1, 100.0))
    on_trade(s, trade(T0 + MINUTE_US + 1, 101.0))
    on_trade(s, trade(T0 + 2 * MINUTE_US + GRACE + 1, 102.0))  # closes the window T0+1m
    step = on_exchange_candle(s, candle(T0 + MINUTE_US, 101.0, closed=True, volume=5.0))
    assert step.mismatched == 1
    assert s.mismatches == 1
    (alert,) = step.alerts
    assert alert.active
    assert alert.kind == "candle_mismatch"
    assert alert.source == "kraken:BTC/USD:1m"
    assert "volume" not in alert.message or "5.0" in alert.message
    step = on_exchange_candle(s, candle(T0 + 2 * MINUTE_US, 102.0, closed=True))
    assert step.reconciled == 0  # ours for T0+2m is still forming: compared when it closes
    step = on_trade(s, trade(T0 + 3 * MINUTE_US + GRACE + 1, 103.0))
    assert step.reconciled == 1
    (cleared,) = step.alerts
    assert (cleared.source, cleared.kind, cleared.active) == (alert.source, alert.kind, False)


def test_a_window_without_any_trade_of_ours_is_filled_from_the_exchange() -> None:
    s = series()
    on_trade(s, trade(T0 + 1, 100.0))
    on_trade(s, trade(T0 + 3 * MINUTE_US + GRACE + 1, 103.0))  # the feed was down for 2 windows
    step = on_exchange_candle(s, candle(T0 + MINUTE_US, 101.0, closed=True))
    assert step.gaps_filled == 1
    assert [c.open_ts for c in step.candles] == [T0 + MINUTE_US]
    again = on_exchange_candle(s, candle(T0 + MINUTE_US, 101.0, closed=True))
    assert again.gaps_filled == 0
    assert again.candles == []


def test_replayed_offsets_are_recognised_per_source_topic() -> None:
    s = series()
    assert not s.is_replay("md.trades.v1", 5)
    assert s.is_replay("md.trades.v1", 5)
    assert s.is_replay("md.trades.v1", 4)
    assert not s.is_replay("ohlc", 5)  # another topic has its own offsets
    assert not s.is_replay("md.trades.v1", 6)


def test_forming_candles_are_throttled_by_exchange_time_and_flushed_later() -> None:
    s = series(forming_every_us=250_000)
    first = on_trade(s, trade(T0 + 1, 100.0))
    assert [c.close for c in first.candles] == [100.0]
    held = on_trade(s, trade(T0 + 100_000, 101.0))
    assert held.candles == []
    assert s.forming_dirty == ["1m"]
    flushed = flush_forming(s)
    assert [(c.close, c.closed, c.trades) for c in flushed.candles] == [(101.0, False, 2)]
    assert flushed.indicators == [] or flushed.indicators[0].closed is False
    assert s.forming_dirty == []
    later = on_trade(s, trade(T0 + 400_000, 102.0))
    assert [c.close for c in later.candles] == [102.0]


@pytest.mark.parametrize("cut", [1, 7, 30, 61])
def test_the_state_survives_a_msgpack_round_trip(cut: int) -> None:
    """What the changelog holds continues exactly like the uninterrupted series."""
    trades = [
        trade(T0 + i * 7_000_000, 100 + (i % 13) - (i % 7), 0.5 + i % 3, n=i) for i in range(90)
    ]
    straight, interrupted = series(timeframes=("1m", "5m")), series(timeframes=("1m", "5m"))
    for tr in trades[:cut]:
        on_trade(straight, tr)
        on_trade(interrupted, tr)
    restored = msgspec.msgpack.decode(msgspec.msgpack.encode(interrupted), type=SymbolSeries)
    assert restored == interrupted
    for tr in trades[cut:]:
        assert on_trade(restored, tr) == on_trade(straight, tr)


def test_candles_agree_at_the_instruments_precision() -> None:
    ours = candle(T0, 100.04, closed=True, volume=1.0)
    assert candles_agree(ours, msgspec.structs.replace(ours, close=100.0400001))
    assert candles_agree(ours, msgspec.structs.replace(ours, volume=1.000000001))
    assert not candles_agree(ours, msgspec.structs.replace(ours, close=100.1))
    assert not candles_agree(ours, msgspec.structs.replace(ours, volume=1.1))


def test_a_close_is_published_before_the_next_windows_preview_which_includes_it() -> None:
    s = series()
    for i in range(40):  # warm RSI(14) on closed candles
        on_trade(s, trade(T0 + i * MINUTE_US + GRACE + 1, 100.0 + (i % 5)))
    step = on_trade(s, trade(T0 + 40 * MINUTE_US + GRACE + 1, 90.0))
    assert [c.closed for c in step.candles] == [True, False]
    closed_set, preview = step.indicators
    assert closed_set.closed
    assert not preview.closed
    assert preview.open_ts == T0 + 40 * MINUTE_US
    shadow = msgspec.msgpack.decode(
        msgspec.msgpack.encode(s.indicators["1m"]), type=type(s.indicators["1m"])
    )
    assert preview.rsi == shadow.rsi.peek(90.0)  # previewed from the state after the close


def test_a_history_burst_publishes_only_its_newest_indicator_set_on_the_timer() -> None:
    s, straight = series(timeframes=("1m", "5m")), series(timeframes=("1m", "5m"))
    published = []
    for i in range(30):
        for tf, length in (("1m", MINUTE_US), ("5m", 5 * MINUTE_US)):
            step = on_exchange_candle(s, candle(T0 + i * length, 100.0 + i, closed=True, tf=tf))
            assert step.indicators == []  # held: the topic keeps only the latest per key
            assert step.indicators_moved  # the state moved and is saved
            published += step.candles
    assert len(published) == 60  # every history candle still goes out
    flushed = flush_forming(s).indicators
    assert [(i.timeframe, i.open_ts) for i in flushed] == [
        ("1m", T0 + 29 * MINUTE_US),
        ("5m", T0 + 29 * 5 * MINUTE_US),
    ]
    # the very set each timeframe's last close computes, not an approximation of it
    for tf, length in (("1m", MINUTE_US), ("5m", 5 * MINUTE_US)):
        for i in range(29):
            straight.indicators[tf].close(candle(T0 + i * length, 100.0 + i, closed=True, tf=tf))
    last = straight.indicators["1m"].close(candle(T0 + 29 * MINUTE_US, 129.0, closed=True))
    assert flushed[0] == last
    assert flush_forming(s).indicators == []  # published once


def test_a_newer_indicator_set_drops_the_held_history_set() -> None:
    s = series(forming_every_us=250_000)
    for i in range(20):
        on_exchange_candle(s, candle(T0 + i * MINUTE_US, 100.0 + i, closed=True))
    assert s.indicators_held
    live = on_trade(s, trade(T0 + 20 * MINUTE_US + 1, 121.0))  # the first trade: its preview
    assert [(i.open_ts, i.closed) for i in live.indicators] == [(T0 + 20 * MINUTE_US, False)]
    assert s.indicators_held == {}
    assert flush_forming(s).indicators == []  # nothing older overwrites the preview


def test_history_arriving_after_the_live_stream_still_seeds_the_indicators() -> None:
    s = series()
    now = T0 + 100 * MINUTE_US
    on_exchange_candle(s, candle(now, 150.0, closed=False))  # the live stream came first
    published = []
    for i in range(60):  # then the REST backfill, oldest first
        published += on_exchange_candle(
            s, candle(T0 + i * MINUTE_US, 100.0 + i, closed=True)
        ).candles
    assert len(published) == 60
    assert s.indicators["1m"].closed == 60
    assert s.exchange_latest["1m"].open_ts == now  # the live window is still the latest


# ---- the two input topics in any interleaving ---------------------------------------------------

STEP_US = 6_000_000  # ten trades a window


def truth_trades() -> list[Trade]:
    """Ten windows of the exchange's trades."""
    return [
        trade(
            T0 + w * MINUTE_US + k * STEP_US,
            100.0 + (w * 10 + k) * 7 % 11,
            0.5 + k % 3,
            n=1 + w * 10 + k,
        )
        for w in range(10)
        for k in range(10)
    ]


def aggregate(trades: list[Trade], *, closed: bool) -> OHLCV:
    """The exchange's candle of one window's trades."""
    first, last = trades[0], trades[-1]
    volume = sum(t.qty for t in trades)
    return OHLCV(
        exchange="kraken",
        symbol="BTC/USD",
        timeframe="1m",
        open_ts=first.exchange_ts - first.exchange_ts % MINUTE_US,
        open=first.price,
        high=max(t.price for t in trades),
        low=min(t.price for t in trades),
        close=last.price,
        volume=volume,
        trades=len(trades),
        vwap=sum(t.price * t.qty for t in trades) / volume,
        closed=closed,
        source=CandleSource.EXCHANGE,
        exchange_ts=last.exchange_ts,
        received_ts=last.received_ts + 5000,
        price_precision=1,
        size_precision=8,
    )


def scenario() -> tuple[list[Trade], list[OHLCV]]:
    """Our feed starts inside window 1 and is down from the second half of window 4 into window
    6 (window 5 has no trade of ours); the producer backfills the exchange's history when it
    starts and again when it comes back, and streams each window's candle twice as it forms."""
    truth = truth_trades()
    window = {w: truth[w * 10 : w * 10 + 10] for w in range(10)}
    ours = [t for t in truth[15:] if not 46 <= int(t.trade_id) <= 62]
    history_1 = [aggregate(window[0], closed=True), aggregate(window[1][:5], closed=False)]
    history_2 = [  # the same values as the stream's, in a REST answer's own times
        msgspec.structs.replace(
            aggregate(window[w], closed=True),
            exchange_ts=T0 + w * MINUTE_US,
            received_ts=T0 + 7 * MINUTE_US + w,
            seq=1000 + w,
        )
        for w in range(7)
    ]
    history_2.append(aggregate(window[7][:3], closed=False))
    stream: list[OHLCV] = []
    for w in range(1, 10):
        stream += [aggregate(window[w][:5], closed=False), aggregate(window[w], closed=False)]
        if w == 6:
            stream += history_2
    return ours, history_1 + stream


def final_candles(picks: list[bool], restore_at: int | None = None) -> dict[tuple[str, int], OHLCV]:
    """The last candle published per (timeframe, window) when the two topics are read in the
    interleaving `picks` (True: the next trade), optionally restoring the state from its
    msgpack encoding (a changelog) part way through."""
    trades, candles = scenario()
    s = series(timeframes=("1m", "5m"))
    out: dict[tuple[str, int], OHLCV] = {}
    picks = picks + [True] * len(trades) + [False] * len(candles)
    for i, pick in enumerate(picks):
        if not trades and not candles:
            break
        if i == restore_at:
            s = msgspec.msgpack.decode(msgspec.msgpack.encode(s), type=SymbolSeries)
        take_trade = (pick and trades) or not candles
        step = on_trade(s, trades.pop(0)) if take_trade else on_exchange_candle(s, candles.pop(0))
        for c in step.candles:
            out[(c.timeframe, c.open_ts)] = c
    return out


def test_every_window_ends_with_the_same_candle_whichever_topic_is_read_first() -> None:
    trades_first = final_candles([True] * 1000)
    candles_first = final_candles([False] * 1000)
    assert trades_first == candles_first
    one_minute = {ts: c for (tf, ts), c in trades_first.items() if tf == "1m"}
    truth = truth_trades()
    for w in range(9):  # every window closed by our last trade is the exchange's truth
        c = one_minute[T0 + w * MINUTE_US]
        assert c.closed, c
        want = aggregate(truth[w * 10 : w * 10 + 10], closed=True)
        assert (c.open, c.close, c.trades) == (want.open, want.close, want.trades), (w, c)
    assert one_minute[T0 + 9 * MINUTE_US].closed is False  # still forming


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), min_size=120), st.none() | st.integers(0, 150))
def test_any_interleaving_of_trades_and_exchange_candles_ends_the_same(
    picks: list[bool], restore_at: int | None
) -> None:
    assert final_candles(picks, restore_at) == final_candles([True] * 1000)
