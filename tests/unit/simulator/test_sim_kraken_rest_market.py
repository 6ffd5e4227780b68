"""REST market-data payloads: exact decimal text, Kraken's pair spellings, OHLC and Trades
cursors."""

from __future__ import annotations

import pytest

from simulator.clock import NS_PER_S, ManualClock
from simulator.exchanges.kraken import rest_market as rm
from simulator.exchanges.kraken.instruments import KrakenCatalog
from simulator.instruments import instruments_for
from simulator.market import MarketModel

START_NS = 1_700_000_000 * NS_PER_S


@pytest.mark.parametrize(
    ("units", "precision", "decimals", "text"),
    [
        (452852, 1, 5, "45285.20000"),
        (100_000, 8, 8, "0.00100000"),
        (100_000, 8, 3, "0.001"),
        (149_999, 8, 3, "0.001"),
        (150_000, 8, 3, "0.002"),
        (12_345, 2, 0, "123"),
        (-250, 1, 2, "-25.00"),
        (0, 1, 1, "0.0"),
    ],
)
def test_fixed_builds_exact_text_from_integers(
    units: int, precision: int, decimals: int, text: str
) -> None:
    assert rm.fixed(units, precision, decimals) == text


@pytest.fixture(scope="module")
def model() -> MarketModel:
    m = MarketModel(("BTC/USD", "ETH/BTC"), seed=3, clock=ManualClock(START_NS))
    ts = START_NS
    for _ in range(2_000):
        ts += 10_000_000
        m.step(ts)
    return m


@pytest.fixture(scope="module")
def catalog() -> KrakenCatalog:
    return KrakenCatalog(instruments_for(["BTC/USD", "ETH/BTC"]))


@pytest.mark.parametrize("name", ["XBTUSD", "XXBTZUSD", "xbtusd", "XBT/USD", "BTC/USD", "BTCUSD"])
def test_every_kraken_spelling_of_a_pair_resolves(catalog: KrakenCatalog, name: str) -> None:
    [pair] = rm.pairs_param(catalog, name)
    assert (pair.rest_id, pair.altname, pair.wsname, pair.symbol) == (
        "XXBTZUSD",
        "XBTUSD",
        "XBT/USD",
        "BTC/USD",
    )


def test_both_legs_of_a_cross_pair_use_legacy_ids(catalog: KrakenCatalog) -> None:
    [pair] = rm.pairs_param(catalog, "ETHXBT")
    assert (pair.rest_id, pair.base.rest_id, pair.quote.rest_id) == ("XETHXXBT", "XETH", "XXBT")


def test_unknown_pairs_and_missing_arguments(catalog: KrakenCatalog) -> None:
    with pytest.raises(rm.KrakenRestError, match="EQuery:Unknown asset pair"):
        rm.pairs_param(catalog, "XETHXBTC")
    with pytest.raises(rm.KrakenRestError, match="EGeneral:Invalid arguments"):
        rm.one_pair(catalog, None)
    with pytest.raises(rm.KrakenRestError, match="EGeneral:Invalid arguments"):
        rm.integer("ten")


def test_ohlc_has_720_rows_the_forming_one_last_and_a_cursor(
    model: MarketModel, catalog: KrakenCatalog
) -> None:
    pair = catalog.by_symbol["BTC/USD"]
    now = START_NS + 20 * NS_PER_S
    result = rm.ohlc(model, pair, 1, None, now)
    rows = result["XXBTZUSD"]
    assert isinstance(rows, list)
    assert len(rows) == 720
    forming = (now // NS_PER_S) - (now // NS_PER_S) % 60
    assert rows[-1][0] == forming
    assert result["last"] == forming - 60
    _time, open_, high, low, close, vwap, volume, count = rows[-1]
    assert isinstance(count, int)
    assert count > 0
    assert float(low) <= float(open_) <= float(high)
    assert float(low) <= float(vwap) <= float(high)
    assert len(volume.split(".")[1]) == 8
    assert len(close.split(".")[1]) == 1
    newer = rm.ohlc(model, pair, 1, forming - 120, now)["XXBTZUSD"]
    assert [r[0] for r in newer] == [forming - 60, forming]  # type: ignore[union-attr]
    with pytest.raises(rm.KrakenRestError):
        rm.ohlc(model, pair, 7, None, now)


def test_trades_cursor_is_a_nanosecond_string(model: MarketModel, catalog: KrakenCatalog) -> None:
    pair = catalog.by_symbol["BTC/USD"]
    fills = list(model.recent_trades("BTC/USD"))
    latest = rm.trades(model, pair, None, 5)
    rows = latest["XXBTZUSD"]
    assert isinstance(rows, list)
    assert [r[6] for r in rows] == [f.trade_id for f in fills[-5:]]
    price, volume, when, side, kind, misc, _ = rows[0]
    assert len(price.split(".")[1]) == 5
    assert len(volume.split(".")[1]) == 8
    assert isinstance(when, float)
    assert side in ("b", "s")
    assert kind in ("m", "l")
    assert misc == ""
    assert latest["last"] == str(fills[-1].ts_ns)
    since = fills[-40].ts_ns
    after = rm.trades(model, pair, since, 1000)
    expected = [f.trade_id for f in fills if f.ts_ns > since]
    assert [r[6] for r in after["XXBTZUSD"]] == expected  # type: ignore[union-attr]
    assert rm.trades(model, pair, fills[-1].ts_ns, 1000)["XXBTZUSD"] == []


def test_depth_levels_and_count(model: MarketModel, catalog: KrakenCatalog) -> None:
    pair = catalog.by_symbol["ETH/BTC"]
    depth = rm.depth(model, pair, 3, START_NS)["XETHXXBT"]
    assert len(depth.asks) == len(depth.bids) == 3
    assert float(depth.bids[0][0]) < float(depth.asks[0][0])
    assert [float(a[0]) for a in depth.asks] == sorted(float(a[0]) for a in depth.asks)
    assert len(depth.asks[0][1].split(".")[1]) == 3
    assert len(rm.depth(model, pair, 10_000, START_NS)["XETHXXBT"].asks) == rm.DEPTH_MAX


def test_ticker_fields(model: MarketModel, catalog: KrakenCatalog) -> None:
    ticker = rm.ticker(model, [catalog.by_symbol["BTC/USD"]], START_NS + 20 * NS_PER_S)["XXBTZUSD"]
    assert float(ticker.b[0]) < float(ticker.a[0])
    assert len(ticker.c[0].split(".")[1]) == 5
    assert len(ticker.c[1].split(".")[1]) == 8
    assert ticker.t[0] <= ticker.t[1]
    assert float(ticker.v[0]) <= float(ticker.v[1])
    assert float(ticker.l[1]) <= float(ticker.c[0]) <= float(ticker.h[1])
