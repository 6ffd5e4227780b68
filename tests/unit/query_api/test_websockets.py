"""`/ws` and the SignalR hub on Litestar's test client: subscribe, snapshots, errors, limits,
authentication. (Live fan-out through real sockets is in the integration tests.)"""

from __future__ import annotations

import json

import msgspec
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from marketdata.config import Settings
from query_api.app import create_app
from query_api.state import ApiState
from tests.unit.query_api.test_rest import NOW, filled, settings

RS = "\x1e"


@pytest.fixture
def client() -> TestClient:  # type: ignore[type-arg]
    api = filled(ApiState(settings(), always_ready=True, clock=lambda: NOW))
    return TestClient(create_app(api))


def test_relay_subscribe_answers_with_the_current_value_then_errors_never_crash(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    with client, client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {
            "type": "connection",
            "state": "connected",
            **_nones("channel", "key", "data", "message", "keys"),
        }
        ws.send_json({"op": "subscribe", "channel": "prices", "symbols": ["BTC-USD"]})
        subscribed = ws.receive_json()
        assert (subscribed["type"], subscribed["keys"]) == ("subscribed", ["kraken:BTC/USD"])
        snap = ws.receive_json()
        assert (snap["type"], snap["key"], snap["data"]["bid"]) == (
            "snapshot",
            "kraken:BTC/USD",
            100.0,
        )
        ws.send_json({"op": "subscribe", "channel": "candles", "symbols": ["BTC/USD"]})
        assert "needs a timeframe" in ws.receive_json()["message"]
        ws.send_json({"op": "subscribe", "channel": "nope"})
        assert "unknown channel 'nope'" in ws.receive_json()["message"]
        ws.send_text("{not json")
        assert ws.receive_json()["message"].startswith("invalid message")
        ws.send_json({"op": "ping"})
        assert ws.receive_json()["type"] == "pong"


def _nones(*names: str) -> dict[str, None]:
    return dict.fromkeys(names)


def test_relay_closes_on_an_oversized_message(client: TestClient) -> None:  # type: ignore[type-arg]
    with client, client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ws.send_text("x" * 20_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009
        assert "message over 16384 bytes" in str(closed.value.detail)


def test_relay_speaks_msgpack_when_asked(client: TestClient) -> None:  # type: ignore[type-arg]
    with client, client.websocket_connect("/ws?format=msgpack") as ws:
        hello = msgspec.msgpack.decode(ws.receive_bytes())
        assert hello["type"] == "connection"
        ws.send_bytes(
            msgspec.msgpack.encode({"op": "subscribe", "channel": "book", "symbols": ["BTCUSD"]})
        )
        assert msgspec.msgpack.decode(ws.receive_bytes())["type"] == "subscribed"
        book = msgspec.msgpack.decode(ws.receive_bytes())
        assert book["data"]["bids"][0] == {"price": 100.0, "qty": 1.0}


def test_hub_negotiate_handshake_subscribe_and_completion(client: TestClient) -> None:  # type: ignore[type-arg]
    with client:
        negotiate = client.post("/hubs/marketdata/negotiate?negotiateVersion=1")
        assert negotiate.status_code == 200
        body = negotiate.json()
        assert body["negotiateVersion"] == 1
        assert body["availableTransports"][0]["transport"] == "WebSockets"
        with client.websocket_connect(f"/hubs/marketdata?id={body['connectionToken']}") as ws:
            ws.send_text('{"protocol":"json","version":1}' + RS + '{"type":6}' + RS)
            assert ws.receive_text() == "{}" + RS
            ws.send_text(
                json.dumps(
                    {
                        "type": 1,
                        "invocationId": "0",
                        "target": "SubscribeToSymbols",
                        "arguments": [["BTC-USD"]],
                    }
                )
                + RS
            )
            frames = [ws.receive_text() for _ in range(3)]
            messages = [json.loads(f.rstrip(RS)) for f in frames]
            by_type = {(m["type"], m.get("target")): m for m in messages}
            completion = by_type[(3, None)]
            assert completion["invocationId"] == "0"
            assert completion["result"]["symbols"] == ["BTC/USD"]
            targets = {m.get("target") for m in messages}
            assert "ConnectionStateChanged" in targets or "PriceUpdate" in targets


def test_hub_refuses_an_unknown_protocol(client: TestClient) -> None:  # type: ignore[type-arg]
    with client, client.websocket_connect("/hubs/marketdata") as ws:
        ws.send_text('{"protocol":"messagepack","version":1}' + RS)
        answer = json.loads(ws.receive_text().rstrip(RS))
        assert "messagepack" in answer["error"]


def test_authentication_guards_the_sockets_and_subscriptions() -> None:
    base = settings()
    md = base.market_data
    from pydantic import SecretStr

    secured = Settings(
        md.model_copy(
            update={
                "signalr": md.signalr.model_copy(update={"enable_authentication": True}),
                "service": md.service.model_copy(update={"api_keys": (SecretStr("s3cret"),)}),
            }
        )
    )
    api = filled(ApiState(secured, always_ready=True, clock=lambda: NOW))
    with TestClient(create_app(api)) as client:
        assert client.post("/hubs/marketdata/negotiate").status_code == 401
        ok = client.post("/hubs/marketdata/negotiate", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        with client.websocket_connect("/ws?access_token=s3cret") as ws:
            assert ws.receive_json()["type"] == "connection"
        with pytest.raises(WebSocketDisconnect) as refused:  # noqa: SIM117
            with client.websocket_connect("/ws?access_token=wrong") as ws:
                ws.receive_json()
        assert refused.value.code == 4401
        assert client.get("/api/prices").status_code == 200  # reads stay open
        denied = client.post("/api/subscribe", json={"symbols": ["BTC/USD"]})
        assert denied.status_code == 401
        assert "API key" in denied.json()["detail"]
