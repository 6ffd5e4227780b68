"""Market data over REST: prices, order books, candles, indicators, trades."""

from __future__ import annotations

from typing import Annotated, Final

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, QueryParameter

from query_api.dto import (
    BookAnswer,
    CandlesAnswer,
    IndicatorsAnswer,
    PriceAnswer,
    PricesAnswer,
    TradesAnswer,
)
from query_api.errors import PROBLEMS, bad_request, not_found
from query_api.state import Api, ApiState
from query_api.symbols import SymbolError, canonical
from schemas.models import OrderBook, PriceTicker

TIMEFRAMES: Final = ("1m", "5m", "15m", "1h", "4h", "1d")
Exchange = Annotated[str, QueryParameter(description="exchange (default kraken)", max_length=32)]


def resolve(api: ApiState, raw: str, exchange: str) -> str:
    """The `exchange:symbol` key of a symbol the model knows; 400 if malformed, 404 if unknown.
    (Paths take the symbol as a `path` parameter: `BTC%2FUSD` arrives decoded, with its slash.)"""
    raw = raw.lstrip("/")
    direct = f"{exchange}:{raw.upper().replace('-', '/').replace('_', '/')}"
    if direct in api.model.prices or direct in api.model.books:
        return direct  # the common case, without building the set of known symbols
    known = {key.split(":", 1)[1] for key in api.model.symbols() if key.startswith(exchange)}
    try:
        symbol = canonical(raw, known)
    except SymbolError as exc:
        raise bad_request(str(exc), parameter="symbol") from None
    key = f"{exchange}:{symbol}"
    if key not in api.model.symbols():
        hint = ", ".join(sorted(known)[:20]) or "none yet"
        raise not_found(f"unknown symbol {symbol} on {exchange}; known: {hint}")
    return key


def price_answer(api: ApiState, p: PriceTicker) -> PriceAnswer:
    age = api.age(p.received_ts)
    return PriceAnswer(
        data=p,
        mid=(p.bid + p.ask) / 2,
        spread=p.ask - p.bid,
        ts=p.exchange_ts,
        age_seconds=age,
        stale=age > api.settings.cache.price_ttl_seconds,
    )


def _timeframe(timeframe: str) -> str:
    if timeframe not in TIMEFRAMES:
        raise not_found(f"unknown timeframe {timeframe!r}; one of {', '.join(TIMEFRAMES)}")
    return timeframe


class MarketController(Controller):
    path = "/api"
    tags = ["market data"]

    @get("/prices", responses=PROBLEMS, summary="Latest price of every symbol")
    async def prices(self, api: Api) -> PricesAnswer:
        answers = [price_answer(api, p) for _, p in sorted(api.model.prices.items())]
        return PricesAnswer(data=answers, count=len(answers))

    @get("/prices/{symbol:path}", responses=PROBLEMS, summary="Latest price of one symbol")
    async def price(
        self, api: Api, symbol: FromPath[str], exchange: Exchange = "kraken"
    ) -> PriceAnswer:
        key = resolve(api, symbol, exchange)
        price = api.model.prices.get(key)
        if price is None:
            raise not_found(f"no price for {key} yet")
        return price_answer(api, price)

    @get("/orderbook/{symbol:path}", responses=PROBLEMS, summary="Order book (best levels first)")
    async def orderbook(
        self,
        api: Api,
        symbol: FromPath[str],
        depth: Annotated[int, QueryParameter(ge=1, le=1000, description="levels per side")] = 10,
        exchange: Exchange = "kraken",
    ) -> BookAnswer:
        key = resolve(api, symbol, exchange)
        book = api.model.books.get(key)
        if book is None:
            raise not_found(f"no order book for {key} yet")
        top = OrderBook(
            exchange=book.exchange,
            symbol=book.symbol,
            bids=book.bids[:depth],
            asks=book.asks[:depth],
            depth=min(depth, book.depth),
            exchange_ts=book.exchange_ts,
            received_ts=book.received_ts,
            checksum=book.checksum,
            updates=book.updates,
            price_precision=book.price_precision,
            size_precision=book.size_precision,
            seq=book.seq,
        )
        age = api.age(book.received_ts)
        stale = age > api.settings.cache.order_book_ttl_seconds
        return BookAnswer(data=top, ts=book.exchange_ts, age_seconds=age, stale=stale)

    @get("/ohlcv", responses=PROBLEMS, summary="Candles of a symbol and timeframe, oldest first")
    async def ohlcv(
        self,
        api: Api,
        symbol: FromQuery[str],
        timeframe: FromQuery[str] = "1m",
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        since: Annotated[
            int | None, QueryParameter(ge=0, description="open time, microseconds since the epoch")
        ] = None,
        exchange: Exchange = "kraken",
    ) -> CandlesAnswer:
        key = f"{resolve(api, symbol, exchange)}:{_timeframe(timeframe)}"
        series = api.model.candles.get(key)
        if series is None:
            raise not_found(f"no {timeframe} candles for {key.rsplit(':', 1)[0]} yet")
        candles = series.last(limit, since)
        newest = candles[-1] if candles else None
        age = api.age(newest.received_ts) if newest else 0.0
        return CandlesAnswer(
            symbol=key.split(":")[1],
            timeframe=timeframe,
            data=candles,
            count=len(candles),
            ts=newest.exchange_ts if newest else 0,
            age_seconds=age,
            stale=newest is None or age > api.settings.cache.candle_ttl_seconds,
        )

    @get(
        "/indicators/{symbol:path}",
        responses=PROBLEMS,
        summary="RSI, MACD, Bollinger, EMA, SMA, volume profile",
    )
    async def indicators(
        self,
        api: Api,
        symbol: FromPath[str],
        timeframe: FromQuery[str] = "1m",
        exchange: Exchange = "kraken",
    ) -> IndicatorsAnswer:
        key = f"{resolve(api, symbol, exchange)}:{_timeframe(timeframe)}"
        values = api.model.indicators.get(key)
        if values is None:
            raise not_found(f"no {timeframe} indicators for {key.rsplit(':', 1)[0]} yet")
        age = api.age(values.received_ts)
        stale = age > api.settings.cache.indicator_ttl_seconds
        return IndicatorsAnswer(data=values, ts=values.exchange_ts, age_seconds=age, stale=stale)

    @get("/trades", responses=PROBLEMS, summary="Recent trades of a symbol, newest last")
    async def trades(
        self,
        api: Api,
        symbol: FromQuery[str],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        exchange: Exchange = "kraken",
    ) -> TradesAnswer:
        key = resolve(api, symbol, exchange)
        recent = list(api.model.trades.get(key, ()))[-limit:]
        newest = recent[-1] if recent else None
        age = api.age(newest.received_ts) if newest else 0.0
        return TradesAnswer(
            symbol=key.split(":", 1)[1],
            data=recent,
            count=len(recent),
            ts=newest.exchange_ts if newest else 0,
            age_seconds=age,
            stale=newest is None or age > api.settings.cache.trade_ttl_seconds,
        )
