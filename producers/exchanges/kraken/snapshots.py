"""Kraken REST data as unified models: OHLC history, Depth and Trades snapshots, balances.

Kraken keys each REST result by its own pair id (`XXBTZUSD` for a request of `XBTUSD`), next to
a `last` cursor; the rows are taken from the key that is not `last`, never from the requested
name. Any answer that does not have the documented shape is a ParseError, not a crash.
"""

from __future__ import annotations

from typing import Final

import msgspec

from producers.errors import ParseError
from producers.exchanges.kraken import parse
from producers.exchanges.kraken.rest import KrakenRest
from producers.exchanges.kraken.symbols import rest_pair_altname
from producers.status import now_us
from schemas.models import OHLCV, Balance, BookUpdate, Trade

Rows = list[list[str | int | float]]
_KEYED: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ROWS: Final = msgspec.json.Decoder(Rows)
_DEPTH: Final = msgspec.json.Decoder(dict[str, dict[str, Rows]])
_BALANCE: Final = msgspec.json.Decoder(dict[str, str | float])


def _rows_and_last(raw: bytes, method: str) -> tuple[Rows, str]:
    try:
        keyed = _KEYED.decode(raw)
        pair = next(k for k in keyed if k != "last")
        last = msgspec.json.decode(keyed["last"]) if "last" in keyed else ""
        return _ROWS.decode(keyed[pair]), str(last)
    except (msgspec.DecodeError, msgspec.ValidationError, StopIteration) as exc:
        raise ParseError("kraken", method, f"unexpected answer: {exc}", raw) from None


async def ohlc_history(
    rest: KrakenRest,
    symbol: str,
    interval_minutes: int,
    precision: parse.Precision,
) -> list[OHLCV]:
    raw = await rest.public(
        "OHLC", {"pair": rest_pair_altname(symbol), "interval": interval_minutes}
    )
    rows, last = _rows_and_last(raw, "OHLC")
    return parse.parse_rest_ohlc(
        rows, symbol, interval_minutes, int(last or 0), now_us(), precision
    )


async def depth_snapshot(
    rest: KrakenRest,
    symbol: str,
    count: int,
    precision: parse.Precision,
) -> BookUpdate:
    """A REST order book snapshot (unverified: REST carries no checksum)."""
    raw = await rest.public("Depth", {"pair": rest_pair_altname(symbol), "count": count})
    try:
        book = next(iter(_DEPTH.decode(raw).values()))
    except (msgspec.DecodeError, msgspec.ValidationError, StopIteration) as exc:
        raise ParseError("kraken", "Depth", f"unexpected answer: {exc}", raw) from None
    return parse.parse_rest_depth(book, symbol, count, now_us(), precision)


async def recent_trades(
    rest: KrakenRest,
    symbol: str,
    since: str | None,
    precision: parse.Precision,
) -> tuple[list[Trade], str]:
    """Recent trades and the cursor (`last`, nanoseconds as a string) for the next call."""
    params: dict[str, str | int] = {"pair": rest_pair_altname(symbol)}
    if since is not None:
        params["since"] = since
    rows, last = _rows_and_last(await rest.public("Trades", params), "Trades")
    return parse.parse_rest_trades(rows, symbol, now_us(), precision), last


async def balances(rest: KrakenRest) -> list[Balance]:
    raw = await rest.private("Balance")
    try:
        result = _BALANCE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ParseError("kraken", "Balance", f"unexpected answer: {exc}", raw) from None
    return parse.parse_rest_balance(result, now_us())
