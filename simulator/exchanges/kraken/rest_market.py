"""Kraken REST public market data, built from the model: pure functions, wire shapes as Kraken's.

Number formatting follows recorded answers: Ticker, Depth and Trades write prices with at least
five decimals (`"105944.30000"` for a one-decimal pair), Depth volumes with three, volumes and
Trades sizes at the pair's lot decimals, OHLC prices at the pair's price decimals (an empty
interval's vwap is `"0.0"`). Every text is built from integer ticks and lots, never from floats.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from simulator.candles import INTERVALS, Candle
from simulator.clock import NS_PER_S
from simulator.exchanges.kraken.instruments import (
    KrakenCatalog,
    KrakenPair,
    RestAsset,
    RestAssetPair,
    rest_asset,
    rest_asset_pair,
)
from simulator.market import MarketModel

UNKNOWN_PAIR = "EQuery:Unknown asset pair"
UNKNOWN_ASSET = "EQuery:Unknown asset"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
TRADES_MAX = 1000
DEPTH_MAX = 500


class KrakenRestError(Exception):
    """A request Kraken would refuse; `str(error)` is Kraken's error string."""


class RestTime(msgspec.Struct):
    unixtime: int
    rfc1123: str


class RestSystemStatus(msgspec.Struct):
    status: str
    timestamp: str


class RestTicker(msgspec.Struct):
    a: tuple[str, str, str]
    b: tuple[str, str, str]
    c: tuple[str, str]
    v: tuple[str, str]
    p: tuple[str, str]
    t: tuple[int, int]
    l: tuple[str, str]  # noqa: E741 - Kraken's field name
    h: tuple[str, str]
    o: str


class RestDepth(msgspec.Struct):
    asks: list[tuple[str, str, int]]
    bids: list[tuple[str, str, int]]


def fixed(units: int, precision: int, decimals: int) -> str:
    """`units` of 10^-precision as fixed-point text with `decimals` decimals (half-up)."""
    if decimals >= precision:
        scaled = units * 10 ** (decimals - precision)
    else:
        div = 10 ** (precision - decimals)
        scaled = (abs(units) + div // 2) // div * (1 if units >= 0 else -1)
    sign, scaled = ("-" if scaled < 0 else ""), abs(scaled)
    if decimals == 0:
        return f"{sign}{scaled}"
    whole, frac = divmod(scaled, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def server_time(now_ns: int) -> RestTime:
    seconds = now_ns // NS_PER_S
    return RestTime(seconds, time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(seconds)))


def system_status(now_ns: int) -> RestSystemStatus:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ns // NS_PER_S))
    return RestSystemStatus("online", stamp)


def pairs_param(catalog: KrakenCatalog, text: str | None) -> list[KrakenPair]:
    """Kraken's `pair` argument: comma-separated, any spelling; none = every pair."""
    if not text:
        return list(catalog.pairs)
    out = []
    for name in text.split(","):
        pair = catalog.rest_pair(name)
        if pair is None:
            raise KrakenRestError(UNKNOWN_PAIR)
        out.append(pair)
    return out


def one_pair(catalog: KrakenCatalog, text: str | None) -> KrakenPair:
    if not text:
        raise KrakenRestError(INVALID_ARGUMENTS)
    pairs = pairs_param(catalog, text)
    if len(pairs) != 1:
        raise KrakenRestError(INVALID_ARGUMENTS)
    return pairs[0]


def integer(text: str | None, default: int | None = None) -> int | None:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise KrakenRestError(INVALID_ARGUMENTS) from None


def asset_pairs(catalog: KrakenCatalog, pair: str | None) -> dict[str, RestAssetPair]:
    return {p.rest_id: rest_asset_pair(p) for p in pairs_param(catalog, pair)}


def assets(catalog: KrakenCatalog, asset: str | None) -> dict[str, RestAsset]:
    chosen = catalog.assets
    if asset:
        names = {n.strip().upper() for n in asset.split(",")}
        chosen = [a for a in catalog.assets if names & {a.code, a.rest_id, a.altname}]
        if len(chosen) < len(names):
            raise KrakenRestError(UNKNOWN_ASSET)
    return {a.rest_id: rest_asset(a) for a in chosen}


def ticker(model: MarketModel, pairs: Sequence[KrakenPair], now_ns: int) -> dict[str, RestTicker]:
    """`[today, last 24 h]` pairs; `a`/`b` are [price, whole-lot volume, lot volume]."""
    out = {}
    for pair in pairs:
        spec = pair.spec
        pp, qp = spec.price_precision, spec.qty_precision
        rp = max(pp, 5)
        stats = model.ticker(pair.symbol, now_ns)
        day = stats.day or Candle.flat(0, stats.last)
        today = stats.today or Candle.flat(0, stats.last)
        out[pair.rest_id] = RestTicker(
            a=_touch(stats.ask, stats.ask_qty, pp, qp),
            b=_touch(stats.bid, stats.bid_qty, pp, qp),
            c=(fixed(stats.last, pp, rp), fixed(stats.last_qty, qp, qp)),
            v=(fixed(today.volume, qp, qp), fixed(day.volume, qp, qp)),
            p=(_vwap(today, pp), _vwap(day, pp)),
            t=(today.trades, day.trades),
            l=(fixed(today.low, pp, rp), fixed(day.low, pp, rp)),
            h=(fixed(today.high, pp, rp), fixed(day.high, pp, rp)),
            o=fixed(today.open, pp, rp),
        )
    return out


def _touch(price: int, qty: int, pp: int, qp: int) -> tuple[str, str, str]:
    scale: int = 10**qp
    whole = max(1, qty // scale)
    return fixed(price, pp, max(pp, 5)), str(whole), fixed(qty, qp, 3)


def _vwap(candle: Candle, pp: int) -> str:
    rp = max(pp, 5)
    scale: int = 10 ** (rp - pp)
    return fixed(round(candle.vwap() * scale), rp, rp)


def ohlc(
    model: MarketModel, pair: KrakenPair, interval: int, since: int | None, now_ns: int
) -> dict[str, object]:
    """The 720 most recent rows (the last one forming, always present), those after `since`;
    `last` is the open time of the last committed row, the cursor for the next poll."""
    if interval not in INTERVALS:
        raise KrakenRestError(INVALID_ARGUMENTS)
    spec = pair.spec
    pp, qp = spec.price_precision, spec.qty_precision
    series = model.candles(pair.symbol).series[interval]
    window = series.window(now_ns // NS_PER_S)
    rows = [
        [
            c.begin,
            fixed(c.open, pp, pp),
            fixed(c.high, pp, pp),
            fixed(c.low, pp, pp),
            fixed(c.close, pp, pp),
            fixed(round(c.vwap()), pp, pp),
            fixed(c.volume, qp, qp),
            c.trades,
        ]
        for c in window
        if since is None or c.begin > since
    ]
    last = window[-1].begin - series.seconds if window else 0
    return {pair.rest_id: rows, "last": last}


def depth(model: MarketModel, pair: KrakenPair, count: int, now_ns: int) -> dict[str, RestDepth]:
    """Levels as [price, volume, timestamp]; the level timestamp is the time of the answer (the
    model does not keep per-level times)."""
    spec = pair.spec
    pp, qp = spec.price_precision, spec.qty_precision
    rp = max(pp, 5)
    count = min(max(count, 1), DEPTH_MAX)
    stamp = now_ns // NS_PER_S
    book = model.book(pair.symbol)

    def rows(levels: list[tuple[int, int]]) -> list[tuple[str, str, int]]:
        return [(fixed(p, pp, rp), fixed(q, qp, 3), stamp) for p, q in levels]

    asks, bids = rows(book.asks.top(count)), rows(book.bids.top(count))
    return {pair.rest_id: RestDepth(asks=asks, bids=bids)}


def trades(
    model: MarketModel, pair: KrakenPair, since: int | None, count: int
) -> dict[str, object]:
    """Trades after `since` (nanoseconds, or seconds when small), oldest first, at most `count`;
    `last` is the nanosecond cursor, as a string."""
    spec = pair.spec
    pp, qp = spec.price_precision, spec.qty_precision
    rp = max(pp, 5)
    count = min(max(count, 1), TRADES_MAX)
    fills = list(model.recent_trades(pair.symbol))
    if since is not None:
        since_ns = since if since >= 10**12 else since * NS_PER_S
        fills = [f for f in fills if f.ts_ns > since_ns][:count]
    else:
        fills = fills[-count:]
    rows = [
        [
            fixed(f.price, pp, rp),
            fixed(f.qty, qp, qp),
            f.ts_ns / NS_PER_S,
            "b" if f.side == "buy" else "s",
            "m" if f.ord_type == "market" else "l",
            "",
            f.trade_id,
        ]
        for f in fills
    ]
    last = fills[-1].ts_ns if fills else (since if since is not None else 0)
    return {pair.rest_id: rows, "last": str(last)}
