"""Candle series and the seeded history behind REST OHLC."""

from __future__ import annotations

import itertools
import random

import pytest

from simulator.candles import HISTORY_ROWS, INTERVALS, Candle, CandleSeries, generate_history

END_S = 1_700_000_040 - 1_700_000_040 % 60


@pytest.fixture(scope="module")
def history() -> dict[int, list[Candle]]:
    return generate_history(
        random.Random(5), END_S, 600_000, sigma_per_s=1e-4, lots_per_s=1e6, lots_per_trade=1e6
    )


def test_every_interval_has_720_contiguous_rows_ending_at_the_start_price(
    history: dict[int, list[Candle]],
) -> None:
    for interval, rows in history.items():
        assert len(rows) == HISTORY_ROWS
        assert rows[-1].close == 600_000
        assert rows[-1].begin <= END_S - 60 < rows[-1].begin + interval * 60
        for a, b in itertools.pairwise(rows):
            assert b.begin - a.begin == interval * 60
            assert a.close == b.open
            assert a.low <= min(a.open, a.close) <= max(a.open, a.close) <= a.high


@pytest.mark.parametrize(("coarse", "fine"), [(5, 1), (60, 15), (240, 60), (1440, 240)])
def test_coarse_history_aggregates_the_finer_history_where_both_exist(
    history: dict[int, list[Candle]], coarse: int, fine: int
) -> None:
    fine_rows = {c.begin: c for c in history[fine]}
    checked = 0
    for candle in history[coarse][:-1]:
        parts = [fine_rows.get(candle.begin + i * fine * 60) for i in range(coarse // fine)]
        if not all(parts):
            continue
        kids = [p for p in parts if p is not None]
        assert (candle.open, candle.close) == (kids[0].open, kids[-1].close)
        assert (candle.high, candle.low) == (max(k.high for k in kids), min(k.low for k in kids))
        assert candle.volume == sum(k.volume for k in kids)
        assert candle.trades == sum(k.trades for k in kids)
        checked += 1
    assert checked > 0


def test_history_is_deterministic_for_a_seed() -> None:
    def make(seed: int) -> list[tuple[int, int, int]]:
        h = generate_history(
            random.Random(seed), END_S, 5_000, sigma_per_s=1e-4, lots_per_s=10, lots_per_trade=1
        )
        return [(c.begin, c.open, c.volume) for iv in INTERVALS for c in h[iv]]

    assert make(1) == make(1)
    assert make(1) != make(2)


def test_window_fills_quiet_intervals_and_always_ends_with_the_forming_row() -> None:
    series = CandleSeries(1)
    series.add_trade(600, 100, 2)
    series.add_trade(610, 105, 1)
    series.add_trade(780, 90, 4)  # two quiet minutes in between
    rows = series.window(905)  # minute 900 is forming and has no trade yet
    assert [r.begin for r in rows] == [600, 660, 720, 780, 840, 900]
    first, quiet, last = rows[0], rows[1], rows[-1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (100, 105, 100, 105, 3)
    assert first.vwap() == pytest.approx((100 * 2 + 105) / 3)
    assert (quiet.open, quiet.close, quiet.volume, quiet.trades, quiet.vwap()) == (
        105,
        105,
        0,
        0,
        0,
    )
    assert (last.open, last.close, last.volume) == (90, 90, 0)


def test_window_is_capped_at_720_rows() -> None:
    series = CandleSeries(1)
    for minute in range(1_000):
        series.add_trade(minute * 60, 100 + minute, 1)
    rows = series.window(999 * 60 + 1)
    assert len(rows) == HISTORY_ROWS
    assert rows[-1].begin == 999 * 60
