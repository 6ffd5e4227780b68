"""The market model: book invariants, trades at the touch, candles that agree with trades,
tickers derived from book and trades, and determinism for a seed."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.candles import INTERVALS
from simulator.clock import NS_PER_S, ManualClock
from simulator.market import Fill, MarketModel

# A start where every Kraken interval (up to 15 days, and weeks) begins a new candle.
ALIGNED_START_S = 9_072_000 * 186
START_NS = ALIGNED_START_S * NS_PER_S


def model(symbols: tuple[str, ...] = ("BTC/USD", "SOL/USD"), seed: int = 7) -> MarketModel:
    return MarketModel(symbols, seed=seed, clock=ManualClock(START_NS))


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(st.integers(0, 2_000_000_000), min_size=200, max_size=1500),
)
def test_book_is_never_crossed_bounded_and_positive(seed: int, steps: list[int]) -> None:
    m = MarketModel(("ETH/USD", "XRP/USD"), seed=seed, clock=ManualClock(START_NS), max_depth=100)
    ts = START_NS
    for delta in steps:
        ts += delta
        event = m.step(ts)
        book = m.book(event.symbol)
        assert not book.is_crossed()
        for side in (book.bids, book.asks):
            assert 1 <= len(side) <= m.capacity
            levels = side.top(len(side))
            assert all(qty > 0 and price > 0 for price, qty in levels)
        final = {(c.side, c.price): c.qty for c in event.changes}
        for (side, price), qty in final.items():
            assert book.side(side).qty(price) == qty, "changes report the level's new size"


def test_trades_happen_at_the_touch_and_remove_the_liquidity_they_take() -> None:
    m = model()
    ts = START_NS
    checked = 0
    for _ in range(20_000):
        ts += 5_000_000
        before = {s: (m.book(s).asks.top(50), m.book(s).bids.top(50)) for s in m.symbols}
        event = m.step(ts)
        if not event.fills:
            continue
        asks, bids = before[event.symbol]
        resting = asks if event.fills[0].side == "buy" else bids
        for index, fill in enumerate(event.fills):
            price, qty = resting[index]
            assert fill.price == price, "each fill is at the touch of the moment"
            assert 0 < fill.qty <= qty
            if index < len(event.fills) - 1:
                assert fill.qty == qty, "only the last level of a sweep is left partially"
        side = m.book(event.symbol).side("ask" if event.fills[0].side == "buy" else "bid")
        last = event.fills[-1]
        assert side.qty(last.price) == resting[len(event.fills) - 1][1] - last.qty
        for fill in event.fills[:-1]:
            assert fill.price not in side
        assert m.ticker(event.symbol).last == last.price
        checked += 1
    assert checked > 1_000


def test_ohlc_candles_equal_the_trades_in_their_window() -> None:
    m = model()
    fills: dict[str, list[Fill]] = defaultdict(list)
    ts = START_NS
    for _ in range(40_000):
        ts += 250_000_000  # 40k events over ~2.8 simulated hours
        event = m.step(ts)
        fills[event.symbol].extend(event.fills)
    compared = 0
    for symbol in m.symbols:
        for interval in INTERVALS:
            seconds = interval * 60
            expected: dict[int, list[Fill]] = defaultdict(list)
            for fill in fills[symbol]:
                begin = fill.ts_ns // NS_PER_S
                expected[begin - begin % seconds].append(fill)
            series = m.candles(symbol).series[interval]
            live = [c for c in series.rows if c.begin >= ALIGNED_START_S]
            assert [c.begin for c in live] == sorted(expected)
            for candle in live:
                trades = expected[candle.begin]
                prices = [f.price for f in trades]
                assert (candle.open, candle.close) == (prices[0], prices[-1])
                assert (candle.high, candle.low) == (max(prices), min(prices))
                assert candle.volume == sum(f.qty for f in trades)
                assert candle.notional == sum(f.qty * f.price for f in trades)
                assert candle.trades == len(trades)
                compared += 1
    assert compared > 100


def test_same_seed_same_market_different_seed_different_market() -> None:
    def run(seed: int) -> list[object]:
        m = model(seed=seed)
        ts, out = START_NS, []
        for _ in range(3_000):
            ts += 1_000_000
            out.append(m.step(ts))
        out.append(
            [(c.begin, c.open, c.close, c.volume) for c in m.candles("BTC/USD").series[60].rows]
        )
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_ticker_comes_from_the_book_and_the_trades() -> None:
    m = model()
    ts = START_NS
    for _ in range(5_000):
        ts += 10_000_000
        m.step(ts)
    for symbol in m.symbols:
        stats = m.ticker(symbol, ts)
        book = m.book(symbol)
        assert (stats.bid, stats.ask) == (book.bids.best(), book.asks.best())
        assert (stats.bid_qty, stats.ask_qty) == (
            book.bids.qty(stats.bid),
            book.asks.qty(stats.ask),
        )
        assert stats.last == m.recent_trades(symbol)[-1].price
        assert stats.day is not None
        assert stats.day.low <= stats.last <= stats.day.high
        assert stats.day.volume > 0


def test_start_has_recent_trades_and_a_full_book() -> None:
    m = model(("BTC/USD", "ETH/USD", "ADA/USD"))
    for symbol in m.symbols:
        trades = m.recent_trades(symbol)
        assert len(trades) >= 50
        assert all(f.ts_ns < START_NS for f in trades)
        assert [f.trade_id for f in trades] == sorted({f.trade_id for f in trades})
        assert len(m.book(symbol).bids) > 900


def test_trade_ids_increase_per_symbol() -> None:
    m = model()
    last: dict[str, int] = {}
    ts = START_NS
    for _ in range(10_000):
        ts += 1_000_000
        event = m.step(ts)
        for fill in event.fills:
            assert fill.trade_id == last.get(event.symbol, fill.trade_id - 1) + 1
            last[event.symbol] = fill.trade_id
    assert set(last) == set(m.symbols)
