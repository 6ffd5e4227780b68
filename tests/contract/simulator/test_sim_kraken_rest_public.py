"""Public REST against an HTTP client: Kraken's envelope, names and number formats."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from simulator.config import SimulatorConfig
from simulator.server import SimulatorHandle, running_simulator


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, SimulatorHandle]]:
    config = SimulatorConfig(events_per_second=300, symbols=("BTC/USD", "ETH/USD", "DOGE/USD"))
    async with running_simulator(config) as sim, httpx.AsyncClient(base_url=sim.rest_url) as client:
        yield client, sim


async def get(client: httpx.AsyncClient, path: str, **params: object) -> dict[str, object]:
    response = await client.get(f"/0/public/{path}", params=params)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_time_and_system_status(http: tuple[httpx.AsyncClient, SimulatorHandle]) -> None:
    client, _ = http
    time_ = (await get(client, "Time"))["result"]
    status = (await get(client, "SystemStatus"))["result"]
    assert isinstance(time_, dict)
    assert isinstance(status, dict)
    assert isinstance(time_["unixtime"], int)
    assert re.match(r"^\w{3}, \d\d \w{3} \d\d \d\d:\d\d:\d\d \+0000$", time_["rfc1123"])
    assert status["status"] == "online"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", status["timestamp"])


async def test_asset_pairs_use_krakens_names(
    http: tuple[httpx.AsyncClient, SimulatorHandle],
) -> None:
    client, _ = http
    every = (await get(client, "AssetPairs"))["result"]
    assert isinstance(every, dict)
    assert set(every) == {"XXBTZUSD", "XETHZUSD", "XDGUSD"}
    btc = every["XXBTZUSD"]
    assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == (
        "XBTUSD",
        "XBT/USD",
        "XXBT",
        "ZUSD",
    )
    assert (btc["pair_decimals"], btc["lot_decimals"], btc["cost_decimals"]) == (1, 8, 5)
    assert (btc["ordermin"], btc["costmin"], btc["tick_size"], btc["status"]) == (
        "0.00005",
        "0.5",
        "0.1",
        "online",
    )
    assert every["XDGUSD"]["wsname"] == "XDG/USD"
    assert every["XDGUSD"]["pair_decimals"] == 7
    one = await get(client, "AssetPairs", pair="XBTUSD,ETHUSD")
    assert set(one["result"]) == {"XXBTZUSD", "XETHZUSD"}  # type: ignore[arg-type]
    assert await get(client, "AssetPairs", pair="XETHXBTC") == {
        "error": ["EQuery:Unknown asset pair"]
    }


async def test_ticker_depth_and_trades_shapes(
    http: tuple[httpx.AsyncClient, SimulatorHandle],
) -> None:
    client, _ = http
    ticker = (await get(client, "Ticker", pair="XBTUSD"))["result"]["XXBTZUSD"]  # type: ignore[index]
    assert set(ticker) == {"a", "b", "c", "v", "p", "t", "l", "h", "o"}
    assert re.match(r"^\d+\.\d{5}$", ticker["a"][0])
    assert re.match(r"^\d+\.\d{3}$", ticker["a"][2])
    assert float(ticker["b"][0]) < float(ticker["a"][0])
    depth = (await get(client, "Depth", pair="XXBTZUSD", count=3))["result"]["XXBTZUSD"]  # type: ignore[index]
    assert len(depth["asks"]) == len(depth["bids"]) == 3
    price, volume, stamp = depth["asks"][0]
    assert re.match(r"^\d+\.\d{5}$", price)
    assert re.match(r"^\d+\.\d{3}$", volume)
    assert isinstance(stamp, int)
    trades = (await get(client, "Trades", pair="XBTUSD", count=10))["result"]
    assert isinstance(trades, dict)
    assert len(trades["XXBTZUSD"]) == 10
    assert isinstance(trades["last"], str)
    assert len(trades["last"]) == 19
    newer = (await get(client, "Trades", pair="XBTUSD", since=trades["last"]))["result"]
    ids = [t[6] for t in newer["XXBTZUSD"]]  # type: ignore[index]
    assert all(i > trades["XXBTZUSD"][-1][6] for i in ids)


async def test_ohlc_window(http: tuple[httpx.AsyncClient, SimulatorHandle]) -> None:
    client, _ = http
    result = (await get(client, "OHLC", pair="XBTUSD", interval=60))["result"]
    assert isinstance(result, dict)
    rows, last = result["XXBTZUSD"], result["last"]
    assert len(rows) == 720
    assert isinstance(last, int)
    assert rows[-1][0] - 3600 == last == rows[-2][0]
    assert all(b[0] - a[0] == 3600 for a, b in itertools.pairwise(rows))
    since = (await get(client, "OHLC", pair="XBTUSD", interval=60, since=last))["result"]
    assert [r[0] for r in since["XXBTZUSD"]] == [rows[-1][0]]  # type: ignore[index]
    bad = await get(client, "OHLC", pair="XBTUSD", interval=2)
    assert bad == {"error": ["EGeneral:Invalid arguments"]}


async def test_unknown_method(http: tuple[httpx.AsyncClient, SimulatorHandle]) -> None:
    client, _ = http
    response = await client.get("/0/public/Nonsense")
    assert response.status_code == 404
    assert response.json() == {"error": ["EGeneral:Unknown method"]}
