"""Agent tools over the REST API: `current_position` (TOOL-001) and `technical_indicators`
(TOOL-002), described for function calling in `TOOLS` (name, description, input_schema).

Each tool is a plain async function taking a `MarketDataClient` (which caches per kind of data,
TOOL-003) and the agent's arguments. A tool never raises (TOOL-004): when the service is down,
slow, or the symbol is unknown it returns

    {"ok": false, "error": {"kind": "service_unavailable" | "timeout" | "unknown_symbol" |
                                     "bad_request" | ..., "message": "..."}}

and on success

    {"ok": true, "data": {...}, "as_of": "2027-01-15T08:00:00.000+00:00", "age_seconds": 0.4,
     "stale": false}

where `as_of`/`age_seconds` describe the oldest value the answer is built from and `stale` says
whether any of them is older than the API's TTL for its kind. `call_tool(client, name, args)`
validates raw arguments and dispatches. `clients/tools.md` documents all of it for agents.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Literal, TypedDict, get_args

import msgspec

from clients.errors import MarketDataError, NotFound
from clients.http import TIMEFRAMES, MarketDataClient
from clients.interpret import Bias, interpret, percent_b
from clients.models import Answer, iso_time
from schemas.models import Position

ErrorKind = Literal[
    "service_unavailable",
    "timeout",
    "unknown_symbol",
    "bad_request",
    "unauthorized",
    "rate_limited",
    "unexpected_answer",
    "internal",
]
DEFAULT_DEADLINE: Final = 5.0
"""Seconds a tool may take in all, retries included, before it answers `timeout`."""
QUOTES: Final = ("USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH")
ASSET: Final = re.compile(r"^[A-Z0-9]{1,12}$")
KINDS: Final[dict[str, ErrorKind]] = {kind: kind for kind in get_args(ErrorKind)}


class ToolError(TypedDict):
    kind: ErrorKind
    message: str


class ToolFailure(TypedDict):
    ok: Literal[False]
    error: ToolError


class ToolSuccess[D](TypedDict):
    ok: Literal[True]
    data: D
    as_of: str | None
    age_seconds: float
    stale: bool


class PositionData(TypedDict):
    asset: str
    quote: str
    symbol: str
    exchange: str
    held: bool
    qty: float
    available: float | None
    hold: float | None
    price: float | None
    price_source: Literal["live", "position"] | None
    value: float | None
    avg_entry_price: float | None
    unrealized_pnl: float | None
    pnl_24h: float | None


class Macd(TypedDict):
    macd: float | None
    signal: float | None
    histogram: float | None


class Bollinger(TypedDict):
    upper: float | None
    middle: float | None
    lower: float | None
    percent_b: float | None


class Interpretation(TypedDict):
    bias: Bias
    signals: list[str]
    summary: str


class IndicatorData(TypedDict):
    symbol: str
    exchange: str
    timeframe: str
    candle_open: str | None
    candle_closed: bool
    price: float | None
    rsi: float | None
    macd: Macd
    bollinger: Bollinger
    ema: dict[str, float]
    sma: dict[str, float]
    interpretation: Interpretation


type ToolResult[D] = ToolSuccess[D] | ToolFailure


class ToolSpec(TypedDict):
    name: str
    description: str
    input_schema: dict[str, object]


# -- the tools ------------------------------------------------------------------------------


async def current_position(
    client: MarketDataClient,
    symbol_or_asset: str,
    *,
    exchange: str | None = None,
    quote: str = "USD",
    deadline: float = DEFAULT_DEADLINE,
) -> ToolResult[PositionData]:
    """TOOL-001: how much of an asset we hold (balance and position) and what it is worth now."""
    try:
        asset, quote = split_asset(symbol_or_asset, quote)
        async with asyncio.timeout(deadline):
            return await _position(client, asset, quote, exchange)
    except Exception as exc:  # TOOL-004: never raise to the agent
        return failure(exc)


async def technical_indicators(
    client: MarketDataClient,
    symbol: str,
    timeframe: str = "1h",
    *,
    exchange: str | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> ToolResult[IndicatorData]:
    """TOOL-002: RSI, MACD, Bollinger bands, EMAs and SMAs of a symbol, with a short reading."""
    try:
        if timeframe not in TIMEFRAMES:
            return _error("bad_request", f"timeframe must be one of {', '.join(TIMEFRAMES)}")
        async with asyncio.timeout(deadline):
            return await _indicators(client, symbol, timeframe, exchange)
    except Exception as exc:
        return failure(exc)


# -- the work -------------------------------------------------------------------------------


async def _position(
    client: MarketDataClient, asset: str, quote: str, exchange: str | None
) -> ToolSuccess[PositionData]:
    balances = await client.balance(exchange=exchange)
    positions = await client.positions(exchange=exchange)
    balance, position = balances.asset(asset, exchange), positions.asset(asset, exchange)
    quote = position.quote if position is not None else quote
    venue = exchange or (balance or position or client).exchange
    parts: list[Answer] = [a for a, v in ((balances, balance), (positions, position)) if v]
    live = None
    if asset != quote:
        try:
            live = await client.price(f"{asset}/{quote}", exchange=venue)
            parts.append(live)
        except NotFound:
            if balance is None and position is None:
                raise NotFound(
                    f"no balance, position or {asset}/{quote} price on {venue}; "
                    "check the asset code or the quote currency"
                ) from None
    qty = position.qty if position is not None else balance.total if balance is not None else 0.0
    price, source = _live_price(asset, quote, live.mid if live else None, position)
    data = PositionData(
        asset=asset,
        quote=quote,
        symbol=f"{asset}/{quote}",
        exchange=venue,
        held=qty != 0,
        qty=qty,
        available=balance.available if balance else None,
        hold=balance.hold if balance else None,
        price=price,
        price_source=source,
        value=qty * price if price is not None else position.value if position else None,
        avg_entry_price=position.avg_entry_price if position else None,
        unrealized_pnl=position.unrealized_pnl if position else None,
        pnl_24h=position.pnl_24h if position else None,
    )
    return _success(data, parts)


def _live_price(
    asset: str, quote: str, mid: float | None, position: Position | None
) -> tuple[float | None, Literal["live", "position"] | None]:
    if asset == quote:
        return 1.0, "live"
    if mid is not None:
        return mid, "live"
    if position is not None and position.price is not None:
        return position.price, "position"
    return None, None


async def _indicators(
    client: MarketDataClient, symbol: str, timeframe: str, exchange: str | None
) -> ToolSuccess[IndicatorData]:
    answer = await client.indicators(symbol, timeframe, exchange=exchange)
    ind = answer.data
    parts: list[Answer] = [answer]
    try:
        live = await client.price(ind.symbol, exchange=ind.exchange)
        parts.append(live)
        price: float | None = live.mid
    except NotFound:
        price = None
    reading = interpret(ind, price)
    data = IndicatorData(
        symbol=ind.symbol,
        exchange=ind.exchange,
        timeframe=ind.timeframe,
        candle_open=iso_time(ind.open_ts),
        candle_closed=ind.closed,
        price=price,
        rsi=ind.rsi,
        macd=Macd(macd=ind.macd, signal=ind.macd_signal, histogram=ind.macd_hist),
        bollinger=Bollinger(
            upper=ind.bb_upper,
            middle=ind.bb_middle,
            lower=ind.bb_lower,
            percent_b=percent_b(price, ind.bb_upper, ind.bb_lower),
        ),
        ema=dict(ind.ema),
        sma=dict(ind.sma),
        interpretation=Interpretation(
            bias=reading.bias, signals=reading.signals, summary=reading.summary
        ),
    )
    return _success(data, parts)


# -- results --------------------------------------------------------------------------------


def split_asset(text: str, default_quote: str = "USD") -> tuple[str, str]:
    """`BTC` -> (BTC, USD); `BTC/EUR`, `btc-eur`, `BTC_EUR`, `BTCEUR` -> (BTC, EUR)."""
    raw = text.strip().upper()
    parts = re.split(r"[/\-_]", raw)
    if len(parts) == 1:
        base = next((raw[: -len(q)] for q in QUOTES if raw.endswith(q) and len(raw) > len(q)), "")
        parts = [base, raw[len(base) :]] if base else [raw]
    asset, quote = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], default_quote.upper())
    for code in (asset, quote):
        if len(parts) > 2 or not ASSET.match(code):
            raise BadArguments(f"{text!r} is not an asset (BTC) or a symbol (BTC/USD)")
    return asset, quote


class BadArguments(ValueError):
    """The agent's arguments are malformed (answered as `bad_request`)."""


def _success[D](data: D, parts: Sequence[Answer]) -> ToolSuccess[D]:
    oldest = max(parts, key=lambda a: a.age_seconds, default=None)
    return ToolSuccess(
        ok=True,
        data=data,
        as_of=oldest.as_of if oldest else None,
        age_seconds=round(oldest.age_seconds, 3) if oldest else 0.0,
        stale=any(a.stale for a in parts),
    )


def _error(kind: ErrorKind, message: str) -> ToolFailure:
    return ToolFailure(ok=False, error=ToolError(kind=kind, message=message))


def failure(exc: BaseException) -> ToolFailure:
    """The structured error an agent gets instead of an exception."""
    if isinstance(exc, MarketDataError):
        return _error(KINDS.get(exc.kind, "internal"), exc.detail)
    if isinstance(exc, TimeoutError):
        return _error("timeout", "the market-data service did not answer in time")
    if isinstance(exc, BadArguments | msgspec.ValidationError):
        return _error("bad_request", str(exc))
    return _error("internal", f"{type(exc).__name__}: {exc}")


# -- function calling -----------------------------------------------------------------------


class _PositionArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol_or_asset: str
    exchange: str | None = None
    quote: str = "USD"


class _IndicatorArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    symbol: str
    timeframe: str = "1h"
    exchange: str | None = None


TOOLS: Final[list[ToolSpec]] = [
    {
        "name": "current_position",
        "description": (
            "How much of an asset the trading account holds and what it is worth now: balance "
            "(total, available, on hold), position quantity, live price (order-book mid), value "
            "= qty x live price, entry price and P&L when known. Answers {ok, data, as_of, "
            "age_seconds, stale}; stale=true means the value is older than its freshness limit, "
            "so do not trade on it. On failure answers {ok: false, error: {kind, message}}."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "symbol_or_asset": {
                    "type": "string",
                    "description": "An asset code (BTC) or a symbol (BTC/USD, BTC-USD, BTCUSD).",
                },
                "exchange": {
                    "type": "string",
                    "description": "Only this exchange (default: the client's, kraken).",
                },
                "quote": {
                    "type": "string",
                    "description": "Currency to value an asset in when no symbol is given.",
                    "default": "USD",
                },
            },
            "required": ["symbol_or_asset"],
            "additionalProperties": False,
        },
    },
    {
        "name": "technical_indicators",
        "description": (
            "Technical indicators of a symbol on one timeframe, from the newest candle: RSI(14), "
            "MACD (line, signal, histogram), Bollinger bands with %B, EMAs and SMAs by period, "
            "the live price, and a short rule-based interpretation (bias and signals). Answers "
            "{ok, data, as_of, age_seconds, stale}; on failure {ok: false, error: {kind, message}}."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "symbol": {
                    "type": "string",
                    "description": "A symbol: BTC/USD, BTC-USD or BTCUSD.",
                },
                "timeframe": {
                    "type": "string",
                    "enum": list(TIMEFRAMES),
                    "default": "1h",
                    "description": "Candle timeframe the indicators are computed on.",
                },
                "exchange": {"type": "string", "description": "Exchange (default kraken)."},
            },
            "required": ["symbol"],
            "additionalProperties": False,
        },
    },
]
"""The tools in the Anthropic format; for OpenAI use `{"type": "function", "function": {"name",
"description", "parameters": input_schema}}` (see `openai_tools`)."""


def openai_tools() -> list[dict[str, object]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": t["input_schema"],
            },
        }
        for t in TOOLS
    ]


async def _call_position(
    client: MarketDataClient, args: Mapping[str, object]
) -> ToolResult[PositionData]:
    a = msgspec.convert(args, type=_PositionArgs)
    return await current_position(client, a.symbol_or_asset, exchange=a.exchange, quote=a.quote)


async def _call_indicators(
    client: MarketDataClient, args: Mapping[str, object]
) -> ToolResult[IndicatorData]:
    a = msgspec.convert(args, type=_IndicatorArgs)
    return await technical_indicators(client, a.symbol, a.timeframe, exchange=a.exchange)


Dispatch = Callable[
    [MarketDataClient, Mapping[str, object]],
    Awaitable[ToolResult[PositionData] | ToolResult[IndicatorData]],
]
_DISPATCH: Final[dict[str, Dispatch]] = {
    "current_position": _call_position,
    "technical_indicators": _call_indicators,
}


async def call_tool(
    client: MarketDataClient, name: str, arguments: Mapping[str, object]
) -> ToolResult[PositionData] | ToolResult[IndicatorData]:
    """Run a tool by name with the agent's raw arguments; bad names or arguments -> bad_request."""
    dispatch = _DISPATCH.get(name)
    if dispatch is None:
        return _error("bad_request", f"unknown tool {name!r}; one of {', '.join(_DISPATCH)}")
    try:
        return await dispatch(client, arguments)
    except Exception as exc:
        return failure(exc)
