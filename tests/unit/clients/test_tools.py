"""The agent tools against the real API: good answers with freshness, the cache, and structured
errors (never exceptions) when the service is down, hung, or the symbol is unknown."""

from __future__ import annotations

import pytest

from clients import MarketDataClient
from clients.interpret import interpret
from clients.tools import (
    TOOLS,
    BadArguments,
    call_tool,
    current_position,
    openai_tools,
    split_asset,
    technical_indicators,
)
from schemas.models import IndicatorSet
from tests.unit.clients.live_api import LiveApi
from tests.unit.query_api.test_rest import NOW


async def test_current_position_values_the_holding_at_the_live_price(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        result = await current_position(client, "BTC")
        by_symbol = await current_position(client, "btc-usd")
    assert result["ok"] is True, result
    assert result["data"] == {
        "asset": "BTC",
        "quote": "USD",
        "symbol": "BTC/USD",
        "exchange": "kraken",
        "held": True,
        "qty": 2.0,
        "available": 1.5,
        "hold": 0.0,
        "price": 100.5,
        "price_source": "live",
        "value": 201.0,
        "avg_entry_price": None,
        "unrealized_pnl": None,
        "pnl_24h": None,
    }
    assert (result["age_seconds"], result["stale"]) == (0.2, False)  # the price is the oldest
    assert result["as_of"] == "2027-01-15T07:59:59.800+00:00"
    assert by_symbol == result


async def test_an_asset_not_held_is_worth_nothing_and_an_unknown_one_is_an_error(
    live: LiveApi,
) -> None:
    async with MarketDataClient(live.url) as client:
        eth = await current_position(client, "ETH")
        doge = await current_position(client, "DOGE")
        garbage = await current_position(client, "B$D/")
    assert eth["ok"] is True, eth
    assert (eth["data"]["held"], eth["data"]["qty"], eth["data"]["value"]) == (False, 0.0, 0.0)
    assert eth["stale"] is True  # the ETH price is 30 s old
    assert doge["ok"] is False
    assert doge["error"]["kind"] == "unknown_symbol"
    assert "no balance, position or DOGE/USD price" in doge["error"]["message"]
    assert garbage["ok"] is False
    assert garbage["error"]["kind"] == "bad_request"


async def test_technical_indicators_with_an_interpretation(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        result = await technical_indicators(client, "BTC-USD", "1m")
    assert result["ok"] is True, result
    data = result["data"]
    assert (data["symbol"], data["timeframe"], data["rsi"], data["price"]) == (
        "BTC/USD",
        "1m",
        55.0,
        100.5,
    )
    assert data["ema"] == {"9": 100.2}
    assert data["macd"] == {"macd": None, "signal": None, "histogram": None}
    assert data["bollinger"]["percent_b"] is None
    assert data["interpretation"] == {
        "bias": "neutral",
        "signals": ["RSI 55.0 is neutral"],
        "summary": "neutral: RSI 55.0 is neutral",
    }
    assert (result["stale"], result["age_seconds"]) == (False, 0.2)


async def test_unknown_symbols_timeframes_and_missing_data_are_structured_errors(
    live: LiveApi,
) -> None:
    async with MarketDataClient(live.url) as client:
        doge = await technical_indicators(client, "DOGE/USD", "1m")
        no_data = await technical_indicators(client, "ETH/USD", "1m")
        bad_tf = await technical_indicators(client, "BTC/USD", "2m")
    assert doge["ok"] is False
    assert doge["error"]["kind"] == "unknown_symbol"
    assert "unknown symbol DOGE/USD" in doge["error"]["message"]
    assert no_data["ok"] is False
    assert "no 1m indicators" in no_data["error"]["message"]
    assert bad_tf == {
        "ok": False,
        "error": {
            "kind": "bad_request",
            "message": "timeframe must be one of 1m, 5m, 15m, 1h, 4h, 1d",
        },
    }


async def test_tools_answer_from_the_cache_within_the_ttl(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        first = await current_position(client, "BTC")
        second = await current_position(client, "BTC")
        await technical_indicators(client, "BTC/USD", "1m")
        await technical_indicators(client, "BTC/USD", "1m")
    assert first == second
    assert live.served() == [
        "/api/balance",
        "/api/positions",
        "/api/prices/BTC/USD",
        "/api/indicators/BTC/USD",
    ]


async def test_a_dead_service_is_a_structured_error_not_an_exception(dead_url: str) -> None:
    async with MarketDataClient(dead_url, retries=2, backoff=0.01) as client:
        position = await current_position(client, "BTC")
        indicators = await technical_indicators(client, "BTC/USD")
    for result in (position, indicators):
        assert result["ok"] is False
        assert result["error"]["kind"] == "service_unavailable"
        assert "cannot reach the market-data API" in result["error"]["message"]


async def test_a_hung_service_is_a_timeout(silent_url: str) -> None:
    async with MarketDataClient(silent_url, timeout=5.0) as client:
        result = await current_position(client, "BTC", deadline=0.3)  # the tool's deadline
    async with MarketDataClient(silent_url, timeout=0.1, retries=1, backoff=0.01) as client:
        slow = await technical_indicators(client, "BTC/USD")  # the client's, retries spent
    assert result == {
        "ok": False,
        "error": {"kind": "timeout", "message": "the market-data service did not answer in time"},
    }
    assert slow["ok"] is False
    assert slow["error"]["kind"] == "timeout"


async def test_call_tool_validates_names_and_arguments(live: LiveApi) -> None:
    async with MarketDataClient(live.url) as client:
        good = await call_tool(client, "current_position", {"symbol_or_asset": "BTC"})
        extra = await call_tool(client, "current_position", {"symbol_or_asset": "BTC", "x": 1})
        wrong_type = await call_tool(client, "technical_indicators", {"symbol": 42})
        nameless = await call_tool(client, "buy_everything", {})
    assert good["ok"] is True
    assert good["data"]["qty"] == 2.0  # type: ignore[typeddict-item]
    assert extra["ok"] is False
    assert extra["error"]["kind"] == "bad_request"
    assert "unknown field" in extra["error"]["message"]
    assert wrong_type["ok"] is False
    assert "Expected `str`" in wrong_type["error"]["message"]
    assert nameless["ok"] is False
    assert "unknown tool 'buy_everything'" in nameless["error"]["message"]


def test_tool_specs_are_complete_for_function_calling() -> None:
    assert [tool["name"] for tool in TOOLS] == ["current_position", "technical_indicators"]
    for tool in TOOLS:
        schema = tool["input_schema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])  # type: ignore[call-overload]
        assert len(tool["description"]) > 100
    assert openai_tools()[1]["function"] == {
        "name": "technical_indicators",
        "description": TOOLS[1]["description"],
        "parameters": TOOLS[1]["input_schema"],
    }


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("BTC", ("BTC", "USD")),
        ("btc/eur", ("BTC", "EUR")),
        ("ETH-BTC", ("ETH", "BTC")),
        ("SOLUSDT", ("SOL", "USDT")),
        ("USDT", ("USDT", "USD")),
    ],
)
def test_split_asset(text: str, pair: tuple[str, str]) -> None:
    assert split_asset(text) == pair


def test_split_asset_refuses_garbage() -> None:
    with pytest.raises(BadArguments):
        split_asset("BTC/USD/EUR")


def test_interpretation_votes() -> None:
    stretched = IndicatorSet(
        exchange="kraken",
        symbol="BTC/USD",
        timeframe="1h",
        open_ts=NOW,
        exchange_ts=NOW,
        received_ts=NOW,
        rsi=75.0,
        macd_hist=-0.5,
        bb_upper=110.0,
        bb_middle=100.0,
        bb_lower=90.0,
        ema={"9": 105.0, "21": 101.0},
        sma={"50": 95.0},
    )
    reading = interpret(stretched, 112.0)
    assert reading.bias == "bearish"  # overbought, MACD down, above the band; trend up twice
    assert reading.signals == [
        "RSI 75.0 is overbought (>= 70)",
        "MACD below its signal line (histogram -0.5): bearish momentum",
        "price above the upper Bollinger band: stretched, mean reversion likely",
        "EMA9 above EMA21: uptrend",
        "price above SMA50",
    ]
