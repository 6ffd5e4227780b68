"""`MarketDataClient`: the REST API over httpx, with timeouts, retries and a TTL cache.

    async with MarketDataClient("http://127.0.0.1:5001") as client:
        btc = await client.price("BTC/USD")
        print(btc.mid, btc.age_seconds, btc.stale)

- Every call has a timeout (`timeout` seconds for connect, read, write and pool).
- 5xx answers, connection failures and timeouts are retried `retries` times with capped
  exponential backoff and full jitter (tenacity's `wait_random_exponential`); a 503's
  `Retry-After` is honoured up to `max_backoff`. When the retries are spent the call raises
  `ServiceUnavailable` (or its subclass `RequestTimeout`). 4xx answers are never retried.
- Reads are cached per kind of data for `CacheTtls` seconds; a second call within the TTL makes no
  request. `subscribe`/`unsubscribe` are never cached.
- Answers are decoded into the frozen Structs of `clients.models`; the records inside `data` are
  the `schemas.models` types.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from clients.cache import CacheKey, CacheTtls, Kind, TtlCache
from clients.errors import (
    MarketDataError,
    RequestTimeout,
    ServiceUnavailable,
    UnexpectedAnswer,
    from_answer,
)
from clients.models import (
    BalancesAnswer,
    BookAnswer,
    CandlesAnswer,
    IndicatorsAnswer,
    PositionsAnswer,
    PriceAnswer,
    PricesAnswer,
    StatusAnswer,
    SubscribeAnswer,
    TradesAnswer,
)

TIMEFRAMES: Final = ("1m", "5m", "15m", "1h", "4h", "1d")
CHANNELS: Final = ("ticker", "trade", "book", "ohlc")
"""Producer channels `subscribe` accepts (empty: every public channel)."""

Query = dict[str, str | int]


@dataclass(slots=True)
class ClientStats:
    """What the client did: requests sent (attempts, retries included), retries, cache hits."""

    requests: int = 0
    retries: int = 0
    cache_hits: int = 0


class _SubscribeBody(msgspec.Struct, frozen=True, kw_only=True):
    symbols: list[str]
    exchange: str
    channels: list[str]


def symbol_path(symbol: str) -> str:
    """A symbol as a path segment: `BTC/USD` travels as `BTC%2FUSD` (the API accepts both)."""
    return quote(symbol.strip(), safe="")


class MarketDataClient:
    """Async REST client of the query API. Use as `async with`, or call `aclose()` when done."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 2.0,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        cache: CacheTtls | None = None,
        exchange: str = "kraken",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0 or timeout <= 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("retries, backoff and max_backoff must be >= 0 and timeout > 0")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.exchange = exchange
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cache = TtlCache(cache or CacheTtls())
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- market data -----------------------------------------------------------------------

    async def prices(self) -> PricesAnswer:
        """Every symbol's latest price, with `mid` and `spread`."""
        return await self._get("prices", "/api/prices", {}, PricesAnswer)

    async def price(self, symbol: str, *, exchange: str | None = None) -> PriceAnswer:
        """One symbol's latest price (`BTC/USD`, `BTC-USD`, `BTCUSD` ...); `NotFound` if unknown."""
        path = f"/api/prices/{symbol_path(symbol)}"
        return await self._get("prices", path, self._venue(exchange), PriceAnswer)

    async def order_book(
        self, symbol: str, *, depth: int = 10, exchange: str | None = None
    ) -> BookAnswer:
        """The best `depth` levels per side (1..1000), best first."""
        query: Query = {"depth": depth, **self._venue(exchange)}
        return await self._get("book", f"/api/orderbook/{symbol_path(symbol)}", query, BookAnswer)

    async def candles(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        limit: int = 100,
        since: int | None = None,
        exchange: str | None = None,
    ) -> CandlesAnswer:
        """Candles oldest first (the newest may still be forming: `closed` false); `since` is an
        open time in microseconds."""
        query: Query = {"symbol": symbol, "timeframe": timeframe, "limit": limit}
        if since is not None:
            query["since"] = since
        query.update(self._venue(exchange))
        return await self._get("candles", "/api/ohlcv", query, CandlesAnswer)

    ohlcv = candles

    async def indicators(
        self, symbol: str, timeframe: str = "1m", *, exchange: str | None = None
    ) -> IndicatorsAnswer:
        """RSI, MACD, Bollinger bands, EMAs, SMAs and the volume profile of the newest candle."""
        query: Query = {"timeframe": timeframe, **self._venue(exchange)}
        path = f"/api/indicators/{symbol_path(symbol)}"
        return await self._get("indicators", path, query, IndicatorsAnswer)

    async def trades(
        self, symbol: str, *, limit: int = 50, exchange: str | None = None
    ) -> TradesAnswer:
        """Recent trades, newest last (at most 500)."""
        query: Query = {"symbol": symbol, "limit": limit, **self._venue(exchange)}
        return await self._get("trades", "/api/trades", query, TradesAnswer)

    # -- account and system ----------------------------------------------------------------

    async def balance(self, *, exchange: str | None = None) -> BalancesAnswer:
        """Balances per asset (`total`, `available`, `hold`); every exchange unless one is named."""
        query: Query = {"exchange": exchange} if exchange else {}
        return await self._get("balance", "/api/balance", query, BalancesAnswer)

    async def positions(self, *, exchange: str | None = None) -> PositionsAnswer:
        """Positions valued at live prices, with `total_value`."""
        query: Query = {"exchange": exchange} if exchange else {}
        return await self._get("positions", "/api/positions", query, PositionsAnswer)

    async def status(self) -> StatusAnswer:
        """Per exchange: connection state, reconnects, circuit, data ages; active alerts."""
        return await self._get("status", "/api/status", {}, StatusAnswer)

    async def subscribe(
        self, symbols: list[str], *, exchange: str | None = None, channels: list[str] | None = None
    ) -> SubscribeAnswer:
        """Ask the producer to subscribe `symbols` on the live feed (needs an API key when the
        API requires one); `pending` lists symbols not answered within the API's 5 s wait."""
        return await self._control("POST", symbols, exchange, channels)

    async def unsubscribe(
        self, symbols: list[str], *, exchange: str | None = None, channels: list[str] | None = None
    ) -> SubscribeAnswer:
        return await self._control("DELETE", symbols, exchange, channels)

    # -- plumbing --------------------------------------------------------------------------

    def _venue(self, exchange: str | None) -> Query:
        return {"exchange": exchange or self.exchange}

    async def _get[T](self, kind: Kind, path: str, query: Query, answer: type[T]) -> T:
        key: CacheKey = (kind, path, tuple(sorted((k, str(v)) for k, v in query.items())))
        cached = self.cache.get(key)
        if isinstance(cached, answer):
            self.stats.cache_hits += 1
            return cached
        body = await self._request("GET", path, params=query)
        value = _decode(body, answer, path)
        self.cache.put(key, value)
        return value

    async def _control(
        self, method: str, symbols: list[str], exchange: str | None, channels: list[str] | None
    ) -> SubscribeAnswer:
        body = _SubscribeBody(
            symbols=symbols, exchange=exchange or self.exchange, channels=channels or []
        )
        raw = await self._request(method, "/api/subscribe", content=msgspec.json.encode(body))
        return _decode(raw, SubscribeAnswer, "/api/subscribe")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        content: bytes | None = None,
    ) -> bytes:
        """The body of a 2xx answer, retrying what is retryable; the typed error otherwise."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=self._count_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, params, content)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _send(
        self, method: str, path: str, params: Query | None, content: bytes | None
    ) -> bytes:
        self.stats.requests += 1
        headers = {"Content-Type": "application/json"} if content is not None else None
        url = f"{self.base_url}{path}"
        try:
            answer = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise RequestTimeout(
                f"no answer within the timeout: {type(exc).__name__}", url=url, retry_after=None
            ) from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(
                f"cannot reach the market-data API: {exc!r}", url=url, retry_after=None
            ) from exc
        if answer.is_success:
            return answer.content
        raise from_answer(
            answer.status_code, answer.content, url, answer.headers.get("retry-after")
        )

    def _wait(self, state: RetryCallState) -> float:
        jittered = wait_random_exponential(multiplier=self.backoff, max=self.max_backoff)(state)
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if isinstance(hinted, float):
            return max(jittered, min(hinted, self.max_backoff))
        return jittered

    def _count_retry(self, _: RetryCallState) -> None:
        self.stats.retries += 1


def _retryable(error: BaseException) -> bool:
    return isinstance(error, MarketDataError) and error.retryable


def _decode[T](body: bytes, answer: type[T], path: str) -> T:
    try:
        return msgspec.json.decode(body, type=answer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UnexpectedAnswer(
            f"cannot read the answer as {answer.__name__}: {exc}", url=path
        ) from exc
