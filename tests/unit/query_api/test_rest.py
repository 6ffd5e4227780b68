"""The REST API on a read model filled by hand (no Kafka): content, freshness, every bad input a
client can send answered with problem+json that says what was wrong."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from marketdata.config import Settings, load_config
from query_api.app import create_app
from query_api.gate import WINDOW_SECONDS
from query_api.state import ApiState
from schemas import topics as t
from schemas.models import (
    OHLCV,
    Balance,
    CandleSource,
    ConnectionState,
    ConnectionStatus,
    IndicatorSet,
    OrderBook,
    Position,
    PriceLevel,
    PriceTicker,
    Subscription,
    SubscriptionStatus,
    Trade,
    TradeSide,
)

NOW = 1_800_000_000_000_000


def settings(**md: object) -> Settings:
    return (
        load_config(None, {})
        if not md
        else Settings(load_config(None, {}).market_data.model_copy(update=md))
    )


def price(
    symbol: str = "BTC/USD", bid: float = 100.0, ask: float = 101.0, age_s: float = 0.2
) -> PriceTicker:
    ts = NOW - int(age_s * 1e6)
    return PriceTicker(
        exchange="kraken",
        symbol=symbol,
        bid=bid,
        bid_qty=1,
        ask=ask,
        ask_qty=2,
        last=bid,
        volume_24h=10,
        vwap_24h=100,
        high_24h=ask,
        low_24h=bid,
        change_24h=1,
        exchange_ts=ts,
        received_ts=ts,
        seq=1,
    )


async def room_in_the_rate_window(seconds: float = 5.0) -> None:
    """The REST limit counts per fixed minute of the monotonic clock (`query_api.gate`): a test's
    few requests must not straddle a window's edge, or they count in two windows."""
    left = WINDOW_SECONDS - time.monotonic() % WINDOW_SECONDS
    if left < seconds:
        await asyncio.sleep(left + 0.05)


def filled(api: ApiState) -> ApiState:
    m = api.model
    # Trades older than the price: a newer one would move its `last` (test_store_prices), and
    # these tests want the prices as they are.
    for i in range(3):
        m.apply(
            t.TRADES.name,
            Trade(
                exchange="kraken",
                symbol="BTC/USD",
                trade_id=str(i),
                price=100 + i,
                qty=1,
                side=TradeSide.BUY,
                exchange_ts=NOW - 10**6 + i,
                received_ts=NOW - 10**6 + i,
            ),
        )
    m.apply(t.PRICES.name, price())
    m.apply(t.PRICES.name, price("ETH/USD", 3000, 3001, age_s=30))
    m.apply(
        t.BOOKS.name,
        OrderBook(
            exchange="kraken",
            symbol="BTC/USD",
            bids=[PriceLevel(100, 1), PriceLevel(99, 2)],
            asks=[PriceLevel(101, 1), PriceLevel(102, 3)],
            depth=10,
            exchange_ts=NOW,
            received_ts=NOW,
        ),
    )
    for i in range(5):
        m.apply(
            t.CANDLES.name,
            OHLCV(
                exchange="kraken",
                symbol="BTC/USD",
                timeframe="1m",
                open_ts=NOW - (5 - i) * 60_000_000,
                open=100 + i,
                high=101 + i,
                low=99 + i,
                close=100.5 + i,
                volume=1,
                exchange_ts=NOW,
                received_ts=NOW,
                closed=i < 4,
                source=CandleSource.AGGREGATED,
            ),
        )
    m.apply(
        t.INDICATORS.name,
        IndicatorSet(
            exchange="kraken",
            symbol="BTC/USD",
            timeframe="1m",
            open_ts=NOW,
            exchange_ts=NOW,
            received_ts=NOW,
            rsi=55.0,
            ema={"9": 100.2},
        ),
    )
    m.apply(
        t.BALANCES.name,
        Balance(
            exchange="kraken", asset="BTC", total=2, available=1.5, exchange_ts=NOW, received_ts=NOW
        ),
    )
    m.apply(
        t.POSITIONS.name,
        Position(
            exchange="kraken",
            asset="BTC",
            quote="USD",
            qty=2,
            price=100,
            value=200,
            exchange_ts=NOW,
            received_ts=NOW,
        ),
    )
    m.apply(
        t.STATUS.name,
        ConnectionStatus(
            exchange="kraken",
            state=ConnectionState.SUBSCRIBED,
            since=NOW - 10**7,
            exchange_ts=NOW,
            received_ts=NOW,
            last_message_ts=NOW,
        ),
    )
    return api


@pytest.fixture
def api() -> ApiState:
    return filled(ApiState(settings(), always_ready=True, clock=lambda: NOW))


@pytest.fixture
async def client(api: ApiState) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(create_app(api)) as c:
        yield c


async def test_prices_carry_mid_spread_age_and_the_stale_flag(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (await client.get("/api/prices")).json()
    assert body["count"] == 2
    btc, eth = sorted(body["data"], key=lambda a: a["data"]["symbol"])
    assert (btc["data"]["symbol"], btc["mid"], btc["spread"], btc["stale"]) == (
        "BTC/USD",
        100.5,
        1.0,
        False,
    )
    assert btc["age_seconds"] == pytest.approx(0.2)
    assert (eth["data"]["symbol"], eth["stale"]) == ("ETH/USD", True)  # 30 s old, ttl 1 s


@pytest.mark.parametrize("spelling", ["BTC-USD", "BTC_USD", "BTCUSD", "BTC%2FUSD", "btc-usd"])
async def test_every_spelling_of_a_symbol_finds_it(client: AsyncTestClient, spelling: str) -> None:  # type: ignore[type-arg]
    answer = await client.get(f"/api/prices/{spelling}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["symbol"] == "BTC/USD"


async def test_unknown_and_malformed_symbols_are_404_and_400_problems(
    client: AsyncTestClient,
) -> None:  # type: ignore[type-arg]
    unknown = await client.get("/api/prices/DOGE-USD")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "unknown symbol DOGE/USD on kraken" in unknown.json()["detail"]
    assert "BTC/USD" in unknown.json()["detail"]  # says what is known
    bad = await client.get("/api/prices/B$D!")
    assert bad.status_code == 400
    assert "is not a symbol" in bad.json()["detail"]


async def test_order_book_depth_and_its_validation(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (await client.get("/api/orderbook/BTC-USD", params={"depth": 1})).json()
    assert body["data"]["bids"] == [{"price": 100.0, "qty": 1.0}]
    assert body["data"]["asks"] == [{"price": 101.0, "qty": 1.0}]
    for depth in ("0", "1001", "ten"):
        answer = await client.get("/api/orderbook/BTC-USD", params={"depth": depth})
        assert answer.status_code == 400, depth
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "depth" in answer.text


async def test_ohlcv_limit_since_and_unknown_timeframe(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (
        await client.get("/api/ohlcv", params={"symbol": "BTC-USD", "timeframe": "1m", "limit": 2})
    ).json()
    assert [c["open"] for c in body["data"]] == [103.0, 104.0]
    assert body["data"][-1]["closed"] is False
    since = NOW - 3 * 60_000_000
    body = (await client.get("/api/ohlcv", params={"symbol": "BTC-USD", "since": since})).json()
    assert [c["open_ts"] for c in body["data"]] == [since, since + 60_000_000, since + 120_000_000]
    answer = await client.get("/api/ohlcv", params={"symbol": "BTC-USD", "timeframe": "2m"})
    assert answer.status_code == 404
    assert "unknown timeframe '2m'" in answer.json()["detail"]
    missing = await client.get("/api/ohlcv")
    assert missing.status_code == 400
    assert "symbol" in missing.text


async def test_indicators_balance_positions_trades_and_status(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    ind = (await client.get("/api/indicators/BTCUSD", params={"timeframe": "1m"})).json()
    assert (ind["data"]["rsi"], ind["data"]["ema"]) == (55.0, {"9": 100.2})
    bal = (await client.get("/api/balance")).json()
    assert [(b["asset"], b["total"], b["available"]) for b in bal["data"]] == [("BTC", 2.0, 1.5)]
    pos = (await client.get("/api/positions")).json()
    assert (pos["total_value"], pos["data"][0]["asset"]) == (200.0, "BTC")
    trades = (await client.get("/api/trades", params={"symbol": "BTC-USD", "limit": 2})).json()
    assert [tr["trade_id"] for tr in trades["data"]] == ["1", "2"]
    status = (await client.get("/api/status")).json()
    (kraken,) = status["exchanges"]
    assert (kraken["exchange"], kraken["state"], kraken["stale"]) == ("kraken", "subscribed", False)
    assert kraken["data_age_seconds"]["prices"] == pytest.approx(0.2)


async def test_while_warming_the_api_answers_503_and_ready_says_so() -> None:
    api = ApiState(settings())  # no feed: never ready
    async with AsyncTestClient(create_app(api)) as client:
        answer = await client.get("/api/prices")
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert "warming up" in answer.json()["detail"]
        assert (await client.get("/health/ready")).status_code == 503
        live = await client.get("/health/live")
        assert (live.status_code, live.json()["ready"]) == (200, False)


async def test_openapi_and_metrics_are_served(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/prices/{symbol}" in schema["paths"]
    assert "/api/orderbook/{symbol}" in schema["paths"]
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


async def test_subscribe_writes_control_requests_and_returns_the_producers_answer(
    api: ApiState,
) -> None:
    written: list[Subscription] = []

    async def control(request: Subscription) -> None:
        written.append(request)
        answer = Subscription(
            exchange=request.exchange,
            symbol=request.symbol,
            channels=request.channels,
            action=request.action,
            ts=request.ts + 1,
            status=SubscriptionStatus.ACTIVE,
        )
        api.model.apply(t.CONTROL.name, answer)

    api.control = control
    async with AsyncTestClient(create_app(api)) as client:
        answer = await client.post("/api/subscribe", json={"symbols": ["xrp-usd", "LTC/USD"]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["requested"] == ["LTC/USD", "XRP/USD"]
        assert [s["status"] for s in body["subscriptions"]] == ["active", "active"]
        assert body["pending"] == []
        assert [(w.symbol, w.action.value, w.requested_by) for w in written] == [
            ("LTC/USD", "subscribe", "api"),
            ("XRP/USD", "subscribe", "api"),
        ]
        for bad, why in (
            ({"symbols": []}, "between 1 and 50"),
            ({"symbols": ["B$D"]}, "is not a symbol"),
            ({"symbols": ["BTC/USD"], "exchange": "mtgox"}, "not enabled"),
            ({"symbols": ["BTC/USD"], "channels": ["nope"]}, "channels"),
            ({"symbols": "BTC/USD"}, "symbols"),
            ({"symbols": ["BTC/USD"], "extra": 1}, "extra"),
        ):
            answer = await client.post("/api/subscribe", json=bad)
            assert answer.status_code == 400, (bad, answer.text)
            assert why in answer.text, (bad, answer.text)
        assert len(written) == 2  # nothing was written for a bad request


async def test_each_client_is_rate_limited_and_told_so() -> None:
    base = settings()
    md = base.market_data
    limited = Settings(
        md.model_copy(
            update={"service": md.service.model_copy(update={"rate_limit_per_minute": 3})}
        )
    )
    api = filled(ApiState(limited, always_ready=True, clock=lambda: NOW))
    async with AsyncTestClient(create_app(api)) as client:
        await room_in_the_rate_window()
        codes = [(await client.get("/api/prices")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert (await client.get("/health/live")).status_code == 200  # health is never limited
        metrics = (await client.get("/metrics")).text
        assert "marketdata_api_websocket_clients 0.0" in metrics
        assert "marketdata_api_fanout_published_total" in metrics
