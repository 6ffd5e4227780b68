"""Candle aggregation: boundaries, late trades within and beyond grace, gaps, UTC days."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.candles import MINUTE_US, TIMEFRAME_US, CandleBuilder
from schemas.models import OHLCV, Trade, TradeSide

T0 = int(datetime(2026, 11, 24, 23, 58, tzinfo=UTC).timestamp()) * 1_000_000


def trade(ts: int, price: float, qty: float = 1.0) -> Trade:
    return Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id=str(ts),
        price=price,
        qty=qty,
        side=TradeSide.BUY,
        exchange_ts=ts,
        received_ts=ts + 1000,
    )


def closed(out: list[OHLCV]) -> list[OHLCV]:
    return [c for c in out if c.closed]


def test_a_minute_forms_then_closes_after_the_grace_period() -> None:
    b = CandleBuilder("kraken", "BTC/USD", "1m", grace_us=2_000_000)
    out = b.add(trade(T0 + 1_000_000, 100.0, 2))
    out += b.add(trade(T0 + 30_000_000, 103.0, 1))
    out += b.add(trade(T0 + 59_999_999, 99.0, 1))
    assert [c.closed for c in out] == [False, False, False]
    forming = out[-1]
    assert (forming.open, forming.high, forming.low, forming.close) == (100.0, 103.0, 99.0, 99.0)
    assert (forming.volume, forming.trades) == (4.0, 3)
    assert forming.vwap == (200 + 103 + 99) / 4

    assert closed(b.add(trade(T0 + MINUTE_US + 1_999_999, 101.0))) == []  # still in grace
    (done,) = closed(b.add(trade(T0 + MINUTE_US + 2_000_000, 101.5)))
    assert done.open_ts == T0
    assert done.close == 99.0
    assert done.trades == 3


def test_a_late_trade_within_grace_lands_in_its_window_without_moving_the_close() -> None:
    b = CandleBuilder("kraken", "BTC/USD", "1m", grace_us=5_000_000)
    b.add(trade(T0 + 10_000_000, 100.0))
    b.add(trade(T0 + 50_000_000, 105.0))
    b.add(trade(T0 + MINUTE_US + 1_000_000, 106.0))  # next window; the first is still in grace
    late = b.add(trade(T0 + 5_000_000, 90.0))[0]  # earliest trade of the first window
    assert late.open_ts == T0
    assert (late.open, late.low, late.close, late.trades) == (90.0, 90.0, 105.0, 3)
    assert b.late_dropped == 0


def test_a_trade_beyond_grace_is_counted_and_dropped() -> None:
    b = CandleBuilder("kraken", "BTC/USD", "1m", grace_us=1_000_000)
    b.add(trade(T0 + 10_000_000, 100.0))
    assert closed(b.add(trade(T0 + MINUTE_US + 2_000_000, 101.0)))
    assert b.add(trade(T0 + 20_000_000, 50.0)) == []
    assert b.late_dropped == 1


def test_gaps_produce_no_candles_and_time_alone_closes_windows() -> None:
    b = CandleBuilder("kraken", "BTC/USD", "1m", grace_us=0)
    b.add(trade(T0, 100.0))
    out = b.add(trade(T0 + 10 * MINUTE_US, 110.0))
    assert [c.open_ts for c in closed(out)] == [T0]  # nothing for the 9 empty minutes
    assert [c.open_ts for c in b.advance(T0 + 11 * MINUTE_US)] == [T0 + 10 * MINUTE_US]
    assert b.open_windows == []


def test_days_and_four_hours_are_aligned_to_utc() -> None:
    ts = int(datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC).timestamp()) * 1_000_000
    day = CandleBuilder("kraken", "BTC/USD", "1d").add(trade(ts, 1.0))[0]
    assert day.open_ts == int(datetime(2026, 11, 24, tzinfo=UTC).timestamp()) * 1_000_000
    four = CandleBuilder("kraken", "BTC/USD", "4h").add(trade(ts, 1.0))[0]
    assert four.open_ts == int(datetime(2026, 11, 24, 20, tzinfo=UTC).timestamp()) * 1_000_000


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(st.integers(0, 20 * MINUTE_US), st.floats(1, 1000), st.floats(0.001, 10)),
        min_size=1,
        max_size=80,
    ),
    st.sampled_from(list(TIMEFRAME_US)),
)
def test_closed_candles_equal_a_batch_aggregation_of_in_time_trades(
    raw: list[tuple[int, float, float]],
    timeframe: str,
) -> None:
    ordered = sorted(raw)
    b = CandleBuilder("kraken", "BTC/USD", timeframe, grace_us=0)
    out: list[OHLCV] = []
    for ts, price, qty in ordered:
        out += b.add(trade(T0 + ts, price, qty))
    out += b.advance(T0 + 10**12)
    length = TIMEFRAME_US[timeframe]
    groups: dict[int, list[tuple[int, float, float]]] = {}
    for ts, price, qty in ordered:
        groups.setdefault((T0 + ts) - (T0 + ts) % length, []).append((ts, price, qty))
    done = {c.open_ts: c for c in closed(out)}
    assert sorted(done) == sorted(groups)
    for open_ts, rows in groups.items():
        c = done[open_ts]
        assert c.open == rows[0][1]
        assert c.close == rows[-1][1]
        assert c.high == max(r[1] for r in rows)
        assert c.low == min(r[1] for r in rows)
        assert c.trades == len(rows)
        assert abs(c.volume - sum(r[2] for r in rows)) <= 1e-9 * max(1.0, c.volume)


def test_replaying_the_same_trades_gives_the_same_closed_candles() -> None:
    trades = [trade(T0 + i * 7_000_000, 100.0 + (i % 5)) for i in range(50)]

    def run() -> list[OHLCV]:
        b = CandleBuilder("kraken", "BTC/USD", "1m")
        out: list[OHLCV] = []
        for t in trades:
            out += b.add(t)
        return closed(out + b.advance(T0 + 10**10))

    assert run() == run()
