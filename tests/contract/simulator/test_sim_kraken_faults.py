"""Every injected fault, as a client meets it, and as `/_sim/state` counts it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sim_kraken_wire import WireBook, channel, loads, precisions, recv, recv_until, send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulator.config import SimulatorConfig
from simulator.server import SimulatorHandle, running_simulator


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(events_per_second=800, symbols=("BTC/USD", "ETH/USD"), seed=9)
    async with running_simulator(config) as handle:
        yield handle


async def subscribed(ws: ClientConnection) -> None:
    await recv(ws)
    await send(ws, "subscribe", channel="ticker", symbol=["BTC/USD", "ETH/USD"])
    await recv_until(ws, channel("ticker", "snapshot"))


async def raw_until(ws: ClientConnection, predicate: object, timeout: float = 5.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            text = str(await ws.recv())
            if predicate(text):  # type: ignore[operator]
                return text


def not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


async def test_drop_aborts_every_connection_without_a_close_frame(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as one, connect(sim.ws_url) as two:
        await subscribed(one)
        await recv(two)
        await sim.control.inject("drop")
        for ws in (one, two):
            with pytest.raises(ConnectionClosed) as closed:
                await raw_until(ws, lambda _: False)
            assert closed.value.rcvd is None, "no close frame: the client sees 1006"
    counts = (await sim.control.state()).faults.counts["drop"]
    assert (counts.armed, counts.fired) == (1, 2)


async def test_drop_with_a_code_sends_that_close_frame(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribed(ws)
        await sim.control.inject("drop:1001")
        with pytest.raises(ConnectionClosed) as closed:
            await raw_until(ws, lambda _: False)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1001,
        "CloudFlare WebSocket proxy restarting",
    )


async def test_stall_sends_nothing_then_resumes_on_the_same_connection(
    sim: SimulatorHandle,
) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribed(ws)
        await sim.control.inject("stall:1.5")
        await asyncio.sleep(0.1)
        while True:  # drain what left before the stall began
            try:
                await recv(ws, timeout=0.2)
            except TimeoutError:
                break
        await send(ws, "ping", 1)
        with pytest.raises(TimeoutError):
            await recv(ws, timeout=0.8)  # no data, no heartbeat, no pong
        resumed = await recv(ws, timeout=3.0)
    assert resumed.get("channel") in ("ticker", "heartbeat")
    state = await sim.control.state()
    assert state.faults.counts["stall"].fired > 0
    assert state.connections_accepted == 1


async def test_malformed_sends_a_non_json_frame(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribed(ws)
        await sim.control.inject("malformed")
        text = await raw_until(ws, not_json)
        after = await recv(ws)
    assert text.startswith("<html>")
    assert after["channel"] in ("ticker", "heartbeat"), "the connection stays up"
    assert (await sim.control.state()).faults.counts["malformed"].fired == 1


async def test_truncated_cuts_a_json_frame(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribed(ws)
        await sim.control.inject("truncated")
        text = await raw_until(ws, not_json)
    assert text.startswith('{"channel":')


async def test_oversized_frame_trips_a_default_client_limit(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as small, connect(sim.ws_url, max_size=None) as large:
        await subscribed(small)
        await recv(large)
        await sim.control.inject("oversized:2")
        with pytest.raises(ConnectionClosed) as closed:
            await raw_until(small, lambda _: False)
        big = await raw_until(large, lambda t: len(t) > 1_000_000)
    assert closed.value.sent is not None
    assert closed.value.sent.code == 1009
    assert len(big) >= 2_000_000
    assert loads(big)["channel"] == "oversized"


async def _book_mismatches(sim: SimulatorHandle, fault: str, updates: int = 150) -> WireBook:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        precision = await precisions(ws)
        book = WireBook(10, *precision["BTC/USD"])
        await send(ws, "subscribe", channel="book", symbol=["BTC/USD"])
        snapshot = await recv_until(ws, channel("book", "snapshot"))
        assert book.apply(snapshot["data"][0], snapshot=True)
        await sim.control.inject(fault)
        for _ in range(updates):
            update = await recv_until(ws, channel("book", "update"))
            book.apply(update["data"][0], snapshot=False)
    return book


async def test_corrupt_checksum_breaks_exactly_one_update(sim: SimulatorHandle) -> None:
    book = await _book_mismatches(sim, "corrupt_checksum:BTC/USD")
    assert book.mismatches == 1
    assert (await sim.control.state()).faults.counts["corrupt_checksum"].fired == 1


async def test_skip_book_update_withholds_an_update_the_clients_checksum_catches(
    sim: SimulatorHandle,
) -> None:
    """Each injection withholds exactly one update. Kraken's levels carry absolute sizes, so a
    withheld update goes unnoticed when the next one happens to set again every level it changed
    (about one time in ten here): the book is then right again. So the fault is injected until
    the client's checksum catches one, at most five times (all five healed: about 1 in 10^5)."""
    counts: list[int] = []
    for attempt in range(1, 6):
        book = await _book_mismatches(sim, "skip_book_update:BTC/USD", updates=40)
        assert (await sim.control.state()).faults.counts["skip_book_update"].fired == attempt
        counts.append(book.mismatches)
        if book.mismatches:
            break
    assert counts[-1] >= 1, f"no withheld update was caught: mismatches per injection {counts}"


async def test_duplicate_trade_repeats_a_trade_frame(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="trade", symbol=["BTC/USD"], snapshot=False)
        await recv_until(ws, lambda f: f.get("method") == "subscribe")
        await sim.control.inject("duplicate_trade:BTC/USD")
        ids: list[int] = []
        for _ in range(30):
            frame = await recv_until(ws, channel("trade", "update"))
            ids += [t["trade_id"] for t in frame["data"]]
    assert len(ids) > len(set(ids)), "some trade_id arrived twice"


async def test_rest_rate_limit_and_http_429(sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as client:
        await sim.control.inject("rate_limit:2")
        limited = [await client.get("/0/public/Time") for _ in range(3)]
        await sim.control.inject("http429")
        refused = await client.get("/0/public/Time")
        fine = await client.get("/0/public/Time")
    assert [r.status_code for r in limited] == [200, 200, 200]
    assert [r.json()["error"] for r in limited] == [
        ["EAPI:Rate limit exceeded"],
        ["EAPI:Rate limit exceeded"],
        [],
    ]
    assert refused.status_code == 429
    assert fine.status_code == 200
    counts = (await sim.control.state()).faults.counts
    assert (counts["rate_limit"].fired, counts["http429"].fired) == (2, 1)


async def test_refuse_rejects_handshakes_for_a_while(sim: SimulatorHandle) -> None:
    await sim.control.inject("refuse:0.5")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(sim.ws_url):
            pass
    assert refused.value.response.status_code == 503
    await asyncio.sleep(0.6)
    async with connect(sim.ws_url) as ws:
        assert (await recv(ws))["channel"] == "status"
    state = await sim.control.state()
    assert (state.connections_refused, state.faults.counts["refuse"].fired) == (1, 1)


async def test_faults_armed_at_start_wait_for_a_subscriber() -> None:
    config = SimulatorConfig(events_per_second=200, symbols=("BTC/USD",), faults=("malformed",))
    async with running_simulator(config) as sim, connect(sim.ws_url) as ws:
        await recv(ws)
        await asyncio.sleep(0.2)
        assert (await sim.control.state()).faults.pending == ["malformed"]
        await send(ws, "subscribe", channel="ticker", symbol=["BTC/USD"])
        text = await raw_until(ws, not_json)
    assert text.startswith("<html>")


async def test_bad_fault_requests_are_refused(sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as client:
        unknown = await client.post("/_sim/faults", json={"fault": "explode"})
        symbol = await client.post("/_sim/faults", json={"fault": "corrupt_checksum:XBT/USD"})
    assert unknown.status_code == symbol.status_code == 400
    assert "unknown fault 'explode'" in unknown.text
