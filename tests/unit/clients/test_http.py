"""`MarketDataClient` against the real API over loopback: content of every call, the TTL cache,
retries, typed errors, a dead service and a hung one."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from clients import (
    NO_CACHE,
    BadRequest,
    CacheTtls,
    MarketDataClient,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
)
from clients import models as sdk
from query_api import dto
from query_api.state import ApiState
from schemas import topics as t
from schemas.models import Subscription, SubscriptionStatus
from tests.unit.clients.live_api import LiveApi, secured_settings
from tests.unit.query_api.test_rest import NOW, filled, room_in_the_rate_window, settings


async def test_market_data_reads_are_typed_and_carry_their_freshness(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        prices = await client.prices()
        btc = await client.price("BTC-USD")
        book = await client.order_book("BTC/USD", depth=1)
        candles = await client.candles("BTCUSD", "1m", limit=2)
        since = await client.ohlcv("BTC/USD", since=NOW - 3 * 60_000_000)
        ind = await client.indicators("BTC/USD", "1m")
        trades = await client.trades("BTC/USD", limit=2)

    assert prices.count == 2
    eth = prices.by_symbol("ETH/USD")
    assert eth is not None
    assert (eth.data.bid, eth.stale) == (3000.0, True)
    assert (btc.data.symbol, btc.mid, btc.spread, btc.stale) == ("BTC/USD", 100.5, 1.0, False)
    assert btc.age_seconds == pytest.approx(0.2)
    assert btc.as_of == "2027-01-15T07:59:59.800+00:00"
    assert [(lv.price, lv.qty) for lv in book.data.bids] == [(100.0, 1.0)]
    assert [(lv.price, lv.qty) for lv in book.data.asks] == [(101.0, 1.0)]
    assert [c.open for c in candles.data] == [103.0, 104.0]
    assert (candles.symbol, candles.timeframe, candles.data[-1].closed) == ("BTC/USD", "1m", False)
    assert [c.open_ts for c in since.data] == [NOW - k * 60_000_000 for k in (3, 2, 1)]
    assert (ind.data.rsi, ind.data.ema, ind.stale) == (55.0, {"9": 100.2}, False)
    assert [tr.trade_id for tr in trades.data] == ["1", "2"]
    assert trades.data[-1].side.value == "buy"


async def test_account_and_status_reads(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        balance = await client.balance()
        kraken_only = await client.balance(exchange="kraken")
        elsewhere = await client.balance(exchange="binance")
        positions = await client.positions()
        status = await client.status()

    btc = balance.asset("BTC")
    assert btc is not None
    assert (btc.total, btc.available, btc.hold) == (2.0, 1.5, 0.0)
    assert kraken_only.count == 1
    assert (elsewhere.count, elsewhere.stale) == (0, True)
    assert positions.total_value == 200.0
    position = positions.asset("BTC")
    assert position is not None
    assert (position.qty, position.quote) == (2.0, "USD")
    (feed,) = status.exchanges
    assert (status.ready, feed.exchange, feed.state, feed.stale) == (
        True,
        "kraken",
        "subscribed",
        False,
    )
    assert feed.data_age_seconds["prices"] == pytest.approx(0.2)


async def test_a_second_read_within_its_ttl_makes_no_request(live: LiveApi) -> None:
    ttls = CacheTtls(prices=0.3, book=0.0)
    async with MarketDataClient(live.url, cache=ttls) as client:
        first = await client.price("BTC/USD")
        again = await client.price("BTC/USD")
        other_exchange_spelling = await client.price("BTC/USD", exchange="kraken")
        assert live.served() == ["/api/prices/BTC/USD"]
        assert again is first
        assert other_exchange_spelling is first
        assert client.stats.cache_hits == 2

        await client.order_book("BTC/USD")
        await client.order_book("BTC/USD")  # TTL 0: not cached
        assert live.served().count("/api/orderbook/BTC/USD") == 2

        await asyncio.sleep(0.35)
        await client.price("BTC/USD")  # expired: asks again
        assert live.served().count("/api/prices/BTC/USD") == 2


async def test_each_kind_has_its_own_cache_entry(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        await client.indicators("BTC/USD", "1m")
        await client.candles("BTC/USD", "1m", limit=2)
        await client.candles("BTC/USD", "1m", limit=3)  # other parameters: another entry
        await client.candles("BTC/USD", "1m", limit=2)
        await client.balance()
        await client.balance()
    assert live.served() == [
        "/api/indicators/BTC/USD",
        "/api/ohlcv",
        "/api/ohlcv",
        "/api/balance",
    ]


async def test_503_while_warming_is_retried_until_the_api_is_ready() -> None:
    api = filled(ApiState(settings(), clock=lambda: NOW))  # no feed: 503 until flipped
    live = LiveApi(api)
    await live.start()
    try:
        asyncio.get_running_loop().call_later(0.3, setattr, api, "always_ready", True)
        async with MarketDataClient(live.url, retries=10, backoff=0.05, max_backoff=0.15) as client:
            started = time.monotonic()
            answer = await client.price("BTC/USD")
            elapsed = time.monotonic() - started
        assert answer.data.bid == 100.0
        assert client.stats.retries >= 1
        assert client.stats.requests == client.stats.retries + 1 == len(live.served())
        assert elapsed < 2.0  # Retry-After: 2 is capped by max_backoff
    finally:
        await live.stop()


async def test_unknown_symbols_are_not_found_and_malformed_input_is_a_bad_request(
    live: LiveApi,
) -> None:
    async with MarketDataClient(live.url, retries=3) as client:
        with pytest.raises(NotFound) as unknown:
            await client.price("DOGE-USD")
        with pytest.raises(BadRequest) as malformed:
            await client.price("B$D!")
        with pytest.raises(BadRequest) as depth:
            await client.order_book("BTC/USD", depth=0)
        with pytest.raises(NotFound) as timeframe:
            await client.indicators("BTC/USD", "2m")
    assert "unknown symbol DOGE/USD on kraken" in unknown.value.detail
    assert "BTC/USD" in unknown.value.detail  # the known symbols are listed
    assert (unknown.value.status, unknown.value.kind) == (404, "unknown_symbol")
    assert "is not a symbol" in malformed.value.detail
    assert (malformed.value.status, malformed.value.parameter) == (400, "symbol")
    assert depth.value.parameter == "depth"
    assert "query parameter 'depth': Expected `int` >= 1" in depth.value.detail
    assert "unknown timeframe '2m'" in timeframe.value.detail
    assert len(live.served()) == 4  # 4xx is never retried


async def test_nothing_listening_is_service_unavailable_after_bounded_retries(
    dead_url: str,
) -> None:
    async with MarketDataClient(dead_url, retries=3, backoff=0.01, max_backoff=0.05) as client:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as down:
            await client.prices()
    assert time.monotonic() - started < 1.0
    assert (client.stats.requests, client.stats.retries) == (4, 3)
    assert "cannot reach the market-data API" in down.value.detail
    assert down.value.retryable
    assert down.value.kind == "service_unavailable"


async def test_a_hung_api_times_out(silent_url: str) -> None:
    async with MarketDataClient(silent_url, timeout=0.2, retries=1, backoff=0.01) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeout) as hung:
            await client.status()
    assert 0.4 <= time.monotonic() - started < 1.5  # two attempts of 0.2 s
    assert client.stats.requests == 2
    assert isinstance(hung.value, ServiceUnavailable)
    assert hung.value.kind == "timeout"


async def test_subscribe_and_unsubscribe_need_the_key_and_return_the_producers_answer() -> None:
    api = filled(ApiState(secured_settings("s3cret"), always_ready=True, clock=lambda: NOW))
    written: list[Subscription] = []

    async def control(request: Subscription) -> None:
        written.append(request)
        answer = msgspec.structs.replace(
            request, ts=request.ts + 1, status=SubscriptionStatus.ACTIVE
        )
        api.model.apply(t.CONTROL.name, answer)

    api.control = control
    live = LiveApi(api)
    await live.start()
    try:
        async with MarketDataClient(live.url) as anonymous:
            with pytest.raises(Unauthorized) as refused:
                await anonymous.subscribe(["XRP/USD"])
        async with MarketDataClient(live.url, api_key="s3cret") as client:
            added = await client.subscribe(["xrp-usd", "LTC/USD"], channels=["ticker"])
            removed = await client.unsubscribe(["XRP/USD"])
            with pytest.raises(BadRequest) as bad:
                await client.subscribe(["B$D"])
    finally:
        await live.stop()
    assert "API key" in refused.value.detail
    assert added.requested == ["LTC/USD", "XRP/USD"]
    assert [(s.symbol, s.status.value, s.channels) for s in added.subscriptions] == [
        ("LTC/USD", "active", ["ticker"]),
        ("XRP/USD", "active", ["ticker"]),
    ]
    assert (added.pending, removed.requested) == ([], ["XRP/USD"])
    assert [(w.symbol, w.action.value) for w in written] == [
        ("LTC/USD", "subscribe"),
        ("XRP/USD", "subscribe"),
        ("XRP/USD", "unsubscribe"),
    ]
    assert (bad.value.parameter, "is not a symbol" in bad.value.detail) == ("symbols", True)


async def test_over_the_rate_limit_is_rate_limited_and_not_retried() -> None:
    api = filled(ApiState(secured_settings(rate_limit=2), always_ready=True, clock=lambda: NOW))
    live = LiveApi(api)
    await live.start()
    try:
        async with MarketDataClient(live.url, cache=NO_CACHE) as client:
            await room_in_the_rate_window()
            await client.prices()
            await client.prices()
            with pytest.raises(RateLimited) as limited:
                await client.prices()
    finally:
        await live.stop()
    assert limited.value.status == 429
    assert len(live.served()) == 3


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (sdk.PriceAnswer, dto.PriceAnswer),
        (sdk.PricesAnswer, dto.PricesAnswer),
        (sdk.BookAnswer, dto.BookAnswer),
        (sdk.CandlesAnswer, dto.CandlesAnswer),
        (sdk.IndicatorsAnswer, dto.IndicatorsAnswer),
        (sdk.BalancesAnswer, dto.BalancesAnswer),
        (sdk.PositionsAnswer, dto.PositionsAnswer),
        (sdk.TradesAnswer, dto.TradesAnswer),
        (sdk.FeedStatus, dto.FeedStatus),
        (sdk.StatusAnswer, dto.StatusAnswer),
        (sdk.SubscribeAnswer, dto.SubscribeAnswer),
    ],
)
def test_the_sdk_answers_mirror_the_api_dtos(ours: type, theirs: type) -> None:
    def shape(cls: type) -> dict[str, str]:
        return {
            f.name: str(f.type).replace("clients.models", "").replace("query_api.dto", "")
            for f in msgspec.structs.fields(cls)
        }

    assert shape(ours) == shape(theirs)
