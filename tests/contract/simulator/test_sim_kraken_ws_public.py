"""The public WebSocket (`/v2`) against a Kraken v2 client: session frames, acks, errors and
every channel's snapshot and updates."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sim_kraken_wire import WireBook, channel, is_ack, precisions, recv, recv_until, send
from websockets.asyncio.client import connect

from simulator.config import SimulatorConfig
from simulator.server import SimulatorHandle, running_simulator

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(events_per_second=1_000, symbols=("BTC/USD", "ETH/USD"), seed=3)
    async with running_simulator(config) as handle:
        yield handle


async def test_status_frame_on_connect(sim: SimulatorHandle) -> None:
    assert sim.host == "127.0.0.1"
    async with connect(sim.ws_url) as ws:
        frame = await recv(ws)
    assert frame["channel"] == "status"
    assert frame["type"] == "update"
    [status] = frame["data"]
    assert status["api_version"] == "v2"
    assert status["system"] == "online"
    assert isinstance(status["connection_id"], int)
    assert 0 <= status["connection_id"] < 2**64
    assert status["version"].startswith("2.")


async def test_ping_pong_echoes_req_id(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "ping", req_id=101)
        pong = await recv(ws)
        await send(ws, "ping")
        bare = await recv(ws)
    assert pong["method"] == "pong"
    assert pong["req_id"] == 101
    assert RFC3339.match(pong["time_in"])
    assert RFC3339.match(pong["time_out"])
    assert pong["time_in"] <= pong["time_out"]
    assert "req_id" not in bare
    assert bare["method"] == "pong"


async def test_one_ack_per_symbol_then_the_snapshot(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", 7, channel="book", symbol=["BTC/USD", "XBT/USD"], depth=25)
        frames = [await recv(ws) for _ in range(3)]
    ack, snapshot, error = frames
    assert ack == {
        "method": "subscribe",
        "result": {"channel": "book", "depth": 25, "snapshot": True, "symbol": "BTC/USD"},
        "success": True,
        "time_in": ack["time_in"],
        "time_out": ack["time_out"],
        "req_id": 7,
    }
    assert snapshot["channel"] == "book"
    assert snapshot["type"] == "snapshot"
    assert len(snapshot["data"][0]["bids"]) == len(snapshot["data"][0]["asks"]) == 25
    assert error["error"] == "Currency pair not supported XBT/USD"
    assert (error["success"], error["symbol"], error["req_id"]) == (False, "XBT/USD", 7)


@pytest.mark.parametrize(
    ("params", "result"),
    [
        (
            {"channel": "ticker", "symbol": ["ETH/USD"]},
            {"channel": "ticker", "event_trigger": "trades", "snapshot": True, "symbol": "ETH/USD"},
        ),
        (
            {"channel": "trade", "symbol": ["ETH/USD"], "snapshot": False},
            {"channel": "trade", "snapshot": False, "symbol": "ETH/USD"},
        ),
        (
            {"channel": "ohlc", "symbol": ["ETH/USD"], "interval": 5},
            {
                "channel": "ohlc",
                "interval": 5,
                "snapshot": True,
                "symbol": "ETH/USD",
                "warnings": ["timestamp is deprecated, use interval_begin"],
            },
        ),
        (
            {"channel": "instrument"},
            {
                "channel": "instrument",
                "snapshot": True,
                "warnings": ["tick_size is deprecated, use price_increment"],
            },
        ),
    ],
)
async def test_ack_shape_per_channel(
    sim: SimulatorHandle, params: dict[str, object], result: dict[str, object]
) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", 1, **params)
        ack = await recv_until(ws, is_ack)
    assert ack["success"] is True
    assert ack["result"] == result


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"channel": "book", "symbol": ["BTC/USD"], "depth": 42},
            "Subscription depth not supported",
        ),
        (
            {"channel": "ohlc", "symbol": ["BTC/USD"], "interval": 7},
            "Subscription ohlc interval not supported",
        ),
        ({"channel": "book", "symbol": "BTC/USD"}, "Symbol field must be an array"),
        (
            {"channel": "executions"},
            "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com",
        ),
        ({"channel": "spread", "symbol": ["BTC/USD"]}, "Channel spread not supported"),
    ],
)
async def test_error_acks(sim: SimulatorHandle, params: dict[str, object], error: str) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", 3, **params)
        ack = await recv_until(ws, is_ack)
    assert (ack["error"], ack["success"], ack["method"], ack["req_id"]) == (
        error,
        False,
        "subscribe",
        3,
    )
    assert RFC3339.match(ack["time_in"])
    assert RFC3339.match(ack["time_out"])


async def test_already_subscribed_and_unsubscribe_quirks(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "unsubscribe", 5, channel="ticker", symbol=["BTC/USD"])
        missing = await recv_until(ws, is_ack)
        await send(ws, "subscribe", 6, channel="ticker", symbol=["BTC/USD"])
        await recv_until(ws, is_ack)
        await send(ws, "subscribe", 7, channel="ticker", symbol=["BTC/USD"])
        again = await recv_until(ws, is_ack)
        await send(ws, "unsubscribe", 8, channel="ticker", symbol=["BTC/USD"])
        gone = await recv_until(ws, is_ack)
        await send(ws, "ping", 9)
        await recv_until(ws, lambda f: f.get("method") == "pong")
        # nothing for the ticker after its unsubscribe ack
        await asyncio.sleep(0.3)
        await send(ws, "ping", 10)
        late = await recv_until(
            ws, lambda f: f.get("method") == "pong" or f.get("channel") == "ticker"
        )
    # Kraken answers an unknown unsubscribe with method "subscribe"
    assert (missing["error"], missing["method"], missing["symbol"]) == (
        "Subscription Not Found",
        "subscribe",
        "BTC/USD",
    )
    assert (again["error"], again["symbol"]) == ("Already subscribed", "BTC/USD")
    assert gone["method"] == "unsubscribe"
    assert gone["success"] is True
    assert gone["result"] == {"channel": "ticker", "event_trigger": "trades", "symbol": "BTC/USD"}
    assert late["method"] == "pong"


async def test_malformed_and_unknown_requests(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await ws.send("{this is not json")
        malformed = await recv(ws)
        await send(ws, "dance", 4)
        unknown = await recv(ws)
    assert (malformed["error"], malformed["success"]) == ("Malformed request", False)
    assert (unknown["error"], unknown["method"], unknown["req_id"]) == (
        "Method not found",
        "dance",
        4,
    )


async def _verify_book(sim: SimulatorHandle, depth: int, updates: int) -> None:
    async with connect(sim.ws_url, max_size=2**22) as ws:
        await recv(ws)
        precision = await precisions(ws)
        books = {s: WireBook(depth, *precision[s]) for s in ("BTC/USD", "ETH/USD")}
        await send(ws, "subscribe", 1, channel="book", symbol=list(books), depth=depth)
        seen = 0
        while seen < updates:
            frame = await recv_until(ws, channel("book"))
            [data] = frame["data"]
            assert RFC3339.match(data["timestamp"])
            ok = books[data["symbol"]].apply(data, snapshot=frame["type"] == "snapshot")
            assert ok, f"checksum mismatch on {frame['type']} for {data['symbol']}"
            seen += frame["type"] == "update"
        await sim.control.pause()
        await send(ws, "ping", 99)  # frames queued before the pause all arrive before the pong
        while (frame := await recv(ws)).get("method") != "pong":
            if frame.get("channel") == "book":
                assert books[frame["data"][0]["symbol"]].apply(frame["data"][0], snapshot=False)
    for symbol, book in books.items():
        truth = await sim.control.book(symbol, depth)
        bids, asks = book.top()
        assert bids == [tuple(level) for level in truth.bids]
        assert asks == [tuple(level) for level in truth.asks]
        assert book.checksum() == truth.checksum


async def test_book_depth_10_checksums_verify_and_match_the_true_book(sim: SimulatorHandle) -> None:
    await _verify_book(sim, 10, 300)


async def test_book_depth_1000_checksums_verify_and_match_the_true_book(
    sim: SimulatorHandle,
) -> None:
    await _verify_book(sim, 1000, 600)


@pytest.mark.parametrize("depth", [25, 100, 500])
async def test_every_book_depth_snapshots_at_most_its_depth(
    sim: SimulatorHandle, depth: int
) -> None:
    async with connect(sim.ws_url, max_size=2**22) as ws:
        await recv(ws)
        precision = await precisions(ws)
        book = WireBook(depth, *precision["ETH/USD"])
        await send(ws, "subscribe", channel="book", symbol=["ETH/USD"], depth=depth)
        snapshot = await recv_until(ws, channel("book", "snapshot"))
        assert len(snapshot["data"][0]["bids"]) == depth
        assert book.apply(snapshot["data"][0], snapshot=True)
        for _ in range(50):
            update = await recv_until(ws, channel("book", "update"))
            assert book.apply(update["data"][0], snapshot=False)


async def test_heartbeats_only_when_subscribed_and_idle(sim: SimulatorHandle) -> None:
    await sim.control.pause()
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        with pytest.raises(TimeoutError):
            await recv(ws, timeout=1.3)  # no subscription: no heartbeat
        await send(ws, "subscribe", channel="ticker", symbol=["BTC/USD"])
        await recv_until(ws, channel("ticker", "snapshot"))
        loop = asyncio.get_running_loop()
        first = await recv(ws, timeout=2.0)
        t0 = loop.time()
        second = await recv(ws, timeout=2.0)
        gap = loop.time() - t0
    assert first == second == {"channel": "heartbeat"}
    assert 0.7 < gap < 2.0


async def test_trades_snapshot_then_updates_with_increasing_ids(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="trade", symbol=["BTC/USD"], snapshot=True)
        snapshot = await recv_until(ws, channel("trade", "snapshot"))
        ids = [t["trade_id"] for t in snapshot["data"]]
        for _ in range(10):
            update = await recv_until(ws, channel("trade", "update"))
            ids += [t["trade_id"] for t in update["data"]]
            for trade in update["data"]:
                assert trade["side"] in ("buy", "sell")
                assert trade["ord_type"] in ("market", "limit")
                assert isinstance(trade["price"], Decimal)
                assert trade["qty"] > 0
                assert RFC3339.match(trade["timestamp"])
    assert len(snapshot["data"]) == 50
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[-1] - ids[0] == len(ids) - 1, "ids are a gapless sequence per book"


async def test_ticker_snapshot_and_bbo_updates(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="ticker", symbol=["BTC/USD"], event_trigger="bbo")
        snapshot = await recv_until(ws, channel("ticker", "snapshot"))
        updates = [await recv_until(ws, channel("ticker", "update")) for _ in range(5)]
    for frame in (snapshot, *updates):
        [t] = frame["data"]
        assert set(t) == {
            "symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap", "low",
            "high", "change", "change_pct", "timestamp",
        }  # fmt: skip
        assert t["bid"] < t["ask"]
        assert t["low"] <= t["high"]
        assert t["volume"] > 0
    keys = ("bid", "bid_qty", "ask", "ask_qty")
    tops = [tuple(u["data"][0][k] for k in keys) for u in updates]
    assert all(a != b for a, b in itertools.pairwise(tops)), "bbo fires on a change"


INTERVALS = [1, 5, 15, 30, 60, 240, 1440, 10080, 21600]
CANDLE_BEGIN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.0{9}Z$")


async def test_ohlc_every_interval_snapshot_then_updates(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        for interval in INTERVALS:
            await send(
                ws, "subscribe", interval, channel="ohlc", symbol=["BTC/USD"], interval=interval
            )
        snapshots: dict[int, list[dict[str, object]]] = {}
        updates: dict[int, list[dict[str, object]]] = {}
        while len(updates) < len(INTERVALS):
            frame = await recv_until(ws, channel("ohlc"))
            if frame["type"] == "update":
                assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", frame["timestamp"])
            target = snapshots if frame["type"] == "snapshot" else updates
            target.setdefault(frame["data"][0]["interval"], frame["data"])
    assert set(snapshots) == set(INTERVALS)
    for interval in INTERVALS:
        assert 1 <= len(snapshots[interval]) <= 10
        for candle in (*snapshots[interval], *updates[interval]):
            assert candle["interval"] == interval
            assert candle["symbol"] == "BTC/USD"
            assert CANDLE_BEGIN.match(str(candle["interval_begin"]))
            assert candle["low"] <= min(candle["open"], candle["close"])  # type: ignore[operator]
            assert candle["high"] >= max(candle["open"], candle["close"])  # type: ignore[operator]
            assert candle["trades"] > 0  # type: ignore[operator]
            assert candle["volume"] > 0  # type: ignore[operator]


async def test_instrument_snapshot_carries_the_precisions(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="instrument")
        snapshot = await recv_until(ws, channel("instrument", "snapshot"))
    pairs = {p["symbol"]: p for p in snapshot["data"]["pairs"]}
    assert set(pairs) == {"BTC/USD", "ETH/USD"}
    btc = pairs["BTC/USD"]
    assert (btc["price_precision"], btc["qty_precision"], btc["base"], btc["quote"]) == (
        1,
        8,
        "BTC",
        "USD",
    )
    assert btc["price_increment"] == Decimal("0.1")
    assert btc["qty_increment"] == Decimal("1e-08")
    assert {a["id"] for a in snapshot["data"]["assets"]} == {"BTC", "ETH", "USD"}


async def test_prices_are_json_numbers(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="book", symbol=["BTC/USD"])
        await recv_until(ws, channel("book", "snapshot"))
        raw = await asyncio.wait_for(ws.recv(), 5)
    assert re.search(r'"price":\d+(\.\d+)?,"qty":\d', str(raw)) or '"bids":[]' in str(raw)
