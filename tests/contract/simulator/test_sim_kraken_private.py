"""Private REST (signed) and the private WebSocket (`/v2-auth`) balances channel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sim_kraken_wire import Signer, channel, is_ack, recv, recv_until, send
from websockets.asyncio.client import connect

from producers.exchanges.kraken.auth import api_sign
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimulatorConfig
from simulator.server import SimulatorHandle, running_simulator


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(events_per_second=200, symbols=("BTC/USD", "ETH/USD"))
    async with running_simulator(config) as handle:
        yield handle


@pytest.fixture
async def http(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.rest_url) as client:
        yield client


async def private(
    http: httpx.AsyncClient, signer: Signer, method: str, **params: str
) -> dict[str, object]:
    headers, body = signer.form(method, **params)
    response = await http.post(f"/0/private/{method}", headers=headers, content=body)
    assert response.status_code == 200
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


async def test_signed_calls_succeed(http: httpx.AsyncClient) -> None:
    signer = Signer()
    balance = await private(http, signer, "Balance")
    assert balance["error"] == []
    assert balance["result"] == {
        "XXBT": "1.5000000000",
        "ZUSD": "100000.0000",
        "XETH": "20.0000000000",
    }
    ex = await private(http, signer, "BalanceEx")
    result = ex["result"]
    assert isinstance(result, dict)
    assert set(result["ZUSD"]) == {"balance", "hold_trade"}
    token = await private(http, signer, "GetWebSocketsToken")
    assert token["error"] == []
    assert isinstance(token["result"], dict)
    assert token["result"]["expires"] == 900


async def test_json_bodies_are_accepted(http: httpx.AsyncClient) -> None:
    nonce = Signer().next_nonce()
    body = json.dumps({"nonce": str(nonce)})
    headers = {
        "API-Key": DEFAULT_API_KEY,
        "API-Sign": api_sign("/0/private/Balance", nonce, body, DEFAULT_API_SECRET),
        "Content-Type": "application/json",
    }
    response = await http.post("/0/private/Balance", headers=headers, content=body)
    assert response.json()["error"] == []


async def test_wrong_key_signature_and_nonce_answer_krakens_errors(
    http: httpx.AsyncClient, sim: SimulatorHandle
) -> None:
    signer = Signer()
    headers, body = signer.form("Balance")
    bad_key = {**headers, "API-Key": "not-our-key"}
    bad_sign = {**headers, "API-Sign": Signer(secret="c2VjcmV0").form("Balance")[0]["API-Sign"]}
    answers = [
        (await http.post("/0/private/Balance", headers=h, content=body)).json()
        for h in (bad_key, bad_sign, headers, headers)
    ]
    assert [a["error"] for a in answers] == [
        ["EAPI:Invalid key"],
        ["EAPI:Invalid signature"],
        [],
        ["EAPI:Invalid nonce"],  # the same nonce twice
    ]
    state = await sim.control.state()
    assert state.rest_errors["EAPI:Invalid nonce"] == 1


async def test_call_counter_answers_rate_limit_exceeded(http: httpx.AsyncClient) -> None:
    signer = Signer()
    errors = [(await private(http, signer, "Balance"))["error"] for _ in range(22)]
    assert errors[:20] == [[]] * 20
    assert errors[20:] == [["EAPI:Rate limit exceeded"]] * 2


async def test_balances_snapshot_and_updates_with_a_token(
    http: httpx.AsyncClient, sim: SimulatorHandle
) -> None:
    token = (await private(http, Signer(), "GetWebSocketsToken"))["result"]["token"]  # type: ignore[index]
    async with connect(sim.ws_auth_url) as ws:
        assert (await recv(ws))["channel"] == "status"
        await send(ws, "subscribe", 4, channel="balances", token=token)
        ack = await recv_until(ws, is_ack)
        snapshot = await recv_until(ws, channel("balances", "snapshot"))
        await sim.control.credit("BTC", 0.25)
        update = await recv_until(ws, channel("balances", "update"))
    assert ack["success"] is True
    assert ack["result"] == {"channel": "balances", "snapshot": True}
    assets = {b["asset"]: b for b in snapshot["data"]}
    assert set(assets) == {"BTC", "ETH", "USD"}
    assert assets["BTC"]["wallets"] == [
        {"type": "spot", "id": "main", "balance": assets["BTC"]["balance"]}
    ]
    [entry] = update["data"]
    assert (entry["asset"], entry["type"], entry["wallet_type"]) == ("BTC", "deposit", "spot")
    assert entry["amount"] == pytest.approx(0.25)
    assert entry["balance"] == pytest.approx(float(assets["BTC"]["balance"]) + 0.25)
    assert update["sequence"] == snapshot["sequence"] + 1


@pytest.mark.parametrize("token", [None, "made-up-token"])
async def test_balances_without_a_valid_token_is_an_invalid_session(
    sim: SimulatorHandle, token: str | None
) -> None:
    params = {"channel": "balances"} | ({"token": token} if token else {})
    async with connect(sim.ws_auth_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", 2, **params)
        error = await recv_until(ws, is_ack)
    assert error == {
        "channel": "balances",
        "error": "ESession:Invalid session",
        "method": "subscribe",
        "req_id": 2,
        "status": "error",
        "success": False,
        "time_in": error["time_in"],
        "time_out": error["time_out"],
    }


async def test_expired_tokens_are_refused(http: httpx.AsyncClient, sim: SimulatorHandle) -> None:
    token = (await private(http, Signer(), "GetWebSocketsToken"))["result"]["token"]  # type: ignore[index]
    await sim.control.expire_tokens()
    async with connect(sim.ws_auth_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="balances", token=token)
        error = await recv_until(ws, is_ack)
    assert error["error"] == "ESession:Invalid session"


async def test_public_channels_are_refused_on_the_private_endpoint(sim: SimulatorHandle) -> None:
    async with connect(sim.ws_auth_url) as ws:
        await recv(ws)
        await send(ws, "subscribe", channel="book", symbol=["BTC/USD"])
        error = await recv_until(ws, is_ack)
    assert error["error"] == (
        "Public market data subscriptions are unavailable on this endpoint. Try ws.kraken.com"
    )
