"""Pure functions from Kraken's wire messages to the unified models. No I/O, no state.

Kraken's spellings stop here: assets become canonical codes, intervals become timeframes
(`60` → `1h`), RFC 3339 timestamps become int microseconds, and each record carries the
instrument's precisions.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from producers.errors import ParseError
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken.symbols import canonical_asset
from schemas.models import (
    OHLCV,
    Balance,
    BookUpdate,
    CandleSource,
    PriceLevel,
    PriceTicker,
    Trade,
    TradeSide,
)

EXCHANGE: Final = "kraken"
TIMEFRAMES: Final = {
    1: "1m",
    5: "5m",
    15: "15m",
    30: "30m",
    60: "1h",
    240: "4h",
    1440: "1d",
    10080: "1w",
    21600: "15d",
}
_SIDES: Final = {
    "buy": TradeSide.BUY,
    "sell": TradeSide.SELL,
    "b": TradeSide.BUY,
    "s": TradeSide.SELL,
}


@dataclass(frozen=True, slots=True)
class Precision:
    price_precision: int
    qty_precision: int


PrecisionOf = Callable[[str], Precision]


@lru_cache(maxsize=1024)
def _second(prefix: str) -> int:
    """Microseconds at `YYYY-MM-DDTHH:MM:SS`: frames arrive in time order, so this hits the cache
    (many frames share a second)."""
    if not (
        len(prefix) == 19
        and prefix[4] == prefix[7] == "-"
        and prefix[10] in "Tt "
        and prefix[13] == prefix[16] == ":"
    ):
        raise ValueError(prefix)
    fields = (prefix[:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16], prefix[17:19])
    if not all(f.isdigit() for f in fields):
        raise ValueError(prefix)
    year, month, day, hour, minute, second = map(int, fields)
    return calendar.timegm((year, month, day, hour, minute, second)) * 1_000_000


def _fraction(rest: str) -> int:
    """Microseconds from what follows the seconds: `.440295Z`, `.4Z`, `.123456789Z`, `Z`, ..."""
    if rest[:1] != ".":
        return 0
    digits = rest[1:].rstrip("Zz").split("+")[0].split("-")[0]
    if not digits.isdigit():
        raise ValueError(rest)
    return int((digits + "000000")[:6])


def rfc3339_micros(text: str) -> int:
    """`2023-10-06T17:35:55.440295Z` (0-9 fraction digits, Z or +00:00) → µs since the epoch."""
    try:
        if len(text) == 27 and text[26] == "Z" and text[19] == ".":  # Kraken's usual layout
            fraction = text[20:26]
            if fraction.isdigit():
                return _second(text[:19]) + int(fraction)
        return _second(text[:19]) + _fraction(text[19:])
    except (ValueError, IndexError):
        raise ParseError(EXCHANGE, "timestamp", "not an RFC 3339 UTC time", text) from None


def timeframe(interval_minutes: int) -> str:
    try:
        return TIMEFRAMES[interval_minutes]
    except KeyError:
        raise ParseError(EXCHANGE, "ohlc", f"unknown interval {interval_minutes}") from None


def book_update(
    symbol: str,
    is_snapshot: bool,
    bids: list[PriceLevel],
    asks: list[PriceLevel],
    checksum: int | None,
    depth: int,
    exchange_ts: int,
    received_ts: int,
    precision: Precision,
) -> BookUpdate:
    return BookUpdate(
        exchange=EXCHANGE,
        symbol=symbol,
        is_snapshot=is_snapshot,
        bids=bids,
        asks=asks,
        checksum=checksum,
        depth=depth,
        exchange_ts=exchange_ts,
        received_ts=received_ts,
        price_precision=precision.price_precision,
        size_precision=precision.qty_precision,
    )


def parse_ticker(
    msg: m.KrakenTickerMsg,
    received_ts: int,
    precision_of: PrecisionOf,
) -> list[PriceTicker]:
    out = []
    for d in msg.data:
        p = precision_of(d.symbol)
        out.append(
            PriceTicker(
                exchange=EXCHANGE,
                symbol=d.symbol,
                bid=d.bid,
                bid_qty=d.bid_qty,
                ask=d.ask,
                ask_qty=d.ask_qty,
                last=d.last,
                volume_24h=d.volume,
                vwap_24h=d.vwap,
                high_24h=d.high,
                low_24h=d.low,
                change_24h=d.change,
                change_pct_24h=d.change_pct,
                exchange_ts=rfc3339_micros(d.timestamp) if d.timestamp else received_ts,
                received_ts=received_ts,
                price_precision=p.price_precision,
                size_precision=p.qty_precision,
            )
        )
    return out


def parse_trades(
    msg: m.KrakenTradeMsg,
    received_ts: int,
    precision_of: PrecisionOf,
) -> list[Trade]:
    out = []
    for d in msg.data:
        p = precision_of(d.symbol)
        out.append(
            Trade(
                exchange=EXCHANGE,
                symbol=d.symbol,
                trade_id=str(d.trade_id),
                price=d.price,
                qty=d.qty,
                side=_SIDES.get(d.side, TradeSide.UNKNOWN),
                ord_type=d.ord_type,
                exchange_ts=rfc3339_micros(d.timestamp),
                received_ts=received_ts,
                price_precision=p.price_precision,
                size_precision=p.qty_precision,
            )
        )
    return out


def parse_ohlc(msg: m.KrakenOhlcMsg, received_ts: int, precision_of: PrecisionOf) -> list[OHLCV]:
    out = []
    for d in msg.data:
        p = precision_of(d.symbol)
        out.append(
            OHLCV(
                exchange=EXCHANGE,
                symbol=d.symbol,
                timeframe=timeframe(d.interval),
                open_ts=rfc3339_micros(d.interval_begin),
                open=d.open,
                high=d.high,
                low=d.low,
                close=d.close,
                volume=d.volume,
                trades=d.trades,
                vwap=d.vwap,
                closed=False,
                source=CandleSource.EXCHANGE,
                exchange_ts=rfc3339_micros(msg.timestamp) if msg.timestamp else received_ts,
                received_ts=received_ts,
                price_precision=p.price_precision,
                size_precision=p.qty_precision,
            )
        )
    return out


def parse_instrument(msg: m.KrakenInstrumentMsg) -> dict[str, Precision]:
    return {
        pair.symbol: Precision(pair.price_precision, pair.qty_precision) for pair in msg.data.pairs
    }


def parse_balances(msg: m.KrakenBalancesMsg, received_ts: int) -> list[Balance]:
    out = []
    for d in msg.data:
        ts = rfc3339_micros(d.timestamp) if d.timestamp else received_ts
        out.append(
            Balance(
                exchange=EXCHANGE,
                asset=canonical_asset(d.asset),
                total=d.balance,
                available=d.balance,
                hold=0.0,
                exchange_ts=ts,
                received_ts=received_ts,
            )
        )
    return out


# ---- REST ---------------------------------------------------------------------------------------


def _f(value: object, what: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParseError(EXCHANGE, "rest", f"{what} is not a number", str(value)) from None


def parse_rest_ohlc(
    rows: Sequence[Sequence[object]],
    symbol: str,
    interval_minutes: int,
    last: int,
    received_ts: int,
    precision: Precision,
) -> list[OHLCV]:
    """REST OHLC rows `[time s, open, high, low, close, vwap, volume, count]`: the last row is
    the forming candle; every earlier one is final."""
    tf = timeframe(interval_minutes)
    out = []
    for index, row in enumerate(rows):
        if len(row) < 8:
            raise ParseError(EXCHANGE, "OHLC", "row with fewer than 8 fields", str(row))
        open_ts = int(_f(row[0], "time")) * 1_000_000
        out.append(
            OHLCV(
                exchange=EXCHANGE,
                symbol=symbol,
                timeframe=tf,
                open_ts=open_ts,
                open=_f(row[1], "open"),
                high=_f(row[2], "high"),
                low=_f(row[3], "low"),
                close=_f(row[4], "close"),
                vwap=_f(row[5], "vwap"),
                volume=_f(row[6], "volume"),
                trades=int(_f(row[7], "count")),
                closed=index < len(rows) - 1,
                source=CandleSource.EXCHANGE,
                exchange_ts=open_ts,
                received_ts=received_ts,
                price_precision=precision.price_precision,
                size_precision=precision.qty_precision,
            )
        )
    del last  # the cursor for the next poll; every row is already returned
    return out


def parse_rest_balance(result: Mapping[str, object], received_ts: int) -> list[Balance]:
    """REST Balance `{"XXBT": "1.5", "ZUSD": "100.0", "ETH2.S": "3"}` → canonical assets."""
    return [
        Balance(
            exchange=EXCHANGE,
            asset=canonical_asset(code),
            total=_f(v, code),
            available=_f(v, code),
            hold=0.0,
            exchange_ts=received_ts,
            received_ts=received_ts,
        )
        for code, v in result.items()
    ]


def parse_rest_depth(
    book: Mapping[str, Sequence[Sequence[object]]],
    symbol: str,
    depth: int,
    received_ts: int,
    precision: Precision,
) -> BookUpdate:
    """REST Depth `{"asks": [[price, volume, ts], ...], "bids": [...]}` → a snapshot (no checksum:
    REST carries none; the WebSocket book is the verified one)."""
    sides: dict[str, list[PriceLevel]] = {}
    newest = 0
    for side in ("bids", "asks"):
        levels = []
        for row in book.get(side, ()):
            if len(row) < 3:
                raise ParseError(EXCHANGE, "Depth", "level with fewer than 3 fields", str(row))
            levels.append(PriceLevel(_f(row[0], "price"), _f(row[1], "volume")))
            newest = max(newest, int(_f(row[2], "timestamp")))
        sides[side] = levels
    return book_update(
        symbol,
        True,
        sides["bids"],
        sides["asks"],
        None,
        depth,
        newest * 1_000_000 or received_ts,
        received_ts,
        precision,
    )


def parse_rest_trades(
    rows: Sequence[Sequence[object]],
    symbol: str,
    received_ts: int,
    precision: Precision,
) -> list[Trade]:
    """REST Trades rows `[price, volume, time (float s), "b"|"s", "m"|"l", misc, trade_id]`."""
    out = []
    for row in rows:
        if len(row) < 7:
            raise ParseError(EXCHANGE, "Trades", "row with fewer than 7 fields", str(row))
        out.append(
            Trade(
                exchange=EXCHANGE,
                symbol=symbol,
                trade_id=str(row[6]),
                price=_f(row[0], "price"),
                qty=_f(row[1], "volume"),
                side=_SIDES.get(str(row[3]), TradeSide.UNKNOWN),
                ord_type={"m": "market", "l": "limit"}.get(str(row[4])),
                exchange_ts=round(_f(row[2], "time") * 1_000_000),
                received_ts=received_ts,
                price_precision=precision.price_precision,
                size_precision=precision.qty_precision,
            )
        )
    return out
