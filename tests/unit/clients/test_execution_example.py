"""The code of docs/execution-example.md runs as written against the real API: decisions on the
streamed price, the REST fallback, the balance check and the loop."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients import MarketDataClient, MarketDataStream, MarketUpdate, Topic
from tests.unit.clients.live_api import LiveApi

DOC = Path(__file__).parents[3] / "docs" / "execution-example.md"


@pytest.fixture(scope="module")
def example() -> Iterator[dict[str, Any]]:
    """The doc's first Python block, loaded as the module `execution_example`."""
    first_block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert first_block is not None
    module = types.ModuleType("execution_example")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(compile(first_block.group(1), str(DOC), "exec"), module.__dict__)
        yield module.__dict__
    finally:
        del sys.modules[module.__name__]


async def test_decisions_use_the_stream_price_and_check_the_balance(
    live: LiveApi, example: dict[str, Any]
) -> None:
    order, decide = example["Order"], example["decide"]
    async with (
        MarketDataClient(live.url) as client,
        MarketDataStream(live.url, [Topic("prices", ("BTC/USD",))]) as stream,
    ):
        async with asyncio.timeout(3):
            async for event in stream:  # until the snapshot is in
                if isinstance(event, MarketUpdate):
                    break
        sell = await decide(client, stream, order("BTC/USD", "sell", 1.0, "limit", 100.0))
        too_big = await decide(client, stream, order("BTC/USD", "sell", 2.0, "limit", 100.0))
        not_yet = await decide(client, stream, order("BTC/USD", "sell", 1.0, "limit", 150.0))
        buy_stop = await decide(client, stream, order("BTC/USD", "buy", 1.0, "stop", 100.0))
    assert (sell.act, sell.price, sell.source) == (True, 100.0, "stream")
    assert sell.reason == "limit triggered; BTC: need 1, available 1.5"
    assert (too_big.act, too_big.reason) == (
        False,
        "insufficient balance: BTC: need 2, available 1.5",
    )
    assert (not_yet.act, not_yet.reason) == (False, "limit 150 not reached")
    assert (buy_stop.act, buy_stop.price) == (False, 101.0)  # stop hit at the ask, but no USD
    assert buy_stop.reason == "insufficient balance: USD: need 101, available 0"


async def test_without_the_stream_the_price_comes_from_rest_and_stale_prices_are_refused(
    live: LiveApi, example: dict[str, Any]
) -> None:
    order, decide = example["Order"], example["decide"]
    async with MarketDataClient(live.url) as client:
        stream = MarketDataStream(live.url)  # never started: disconnected
        btc = await decide(client, stream, order("BTC/USD", "sell", 1.0, "limit", 100.0))
        eth = await decide(client, stream, order("ETH/USD", "sell", 1.0, "limit", 1.0))
        doge = await decide(client, stream, order("DOGE/USD", "buy", 1.0, "limit", 1.0))
    assert (btc.act, btc.source) == (True, "rest")
    assert eth.act is False
    assert "is 30.0 s old (stale)" in eth.reason
    assert doge.act is False
    assert "unknown_symbol: unknown symbol DOGE/USD" in doge.reason


async def test_the_loop_places_what_triggers_and_keeps_the_rest(
    live: LiveApi, example: dict[str, Any]
) -> None:
    order, run = example["Order"], example["run"]
    placed: list[tuple[Any, Any]] = []

    async def place(o: Any, decision: Any) -> None:
        placed.append((o, decision))

    fills, waits = (
        order("BTC/USD", "sell", 1.0, "limit", 99.0),
        order("BTC/USD", "buy", 1, "limit", 1),
    )
    left = await run(live.url, [fills, waits], place, interval=0.05, max_rounds=3)
    assert [o for o, _ in placed] == [fills]
    assert placed[0][1].price == 100.0
    assert left == [waits]
