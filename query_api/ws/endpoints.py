"""The two WebSocket endpoints: the `/ws` relay and the SignalR-compatible hub.

Both are thin loops around the fan-out hub (`fanout.py`): the reader handles the client's
messages (subscribe, unsubscribe, pings), the fan-out client's writer task sends the updates.
Every update is encoded once per wire format and shared by all clients of that format.

`/ws` messages (JSON text, or MessagePack binary with `?format=msgpack`):
- client: `{"op": "subscribe" | "unsubscribe", "channel": "prices", "symbols": ["BTC/USD"],
  "timeframe": "1m", "exchange": "kraken"}` (`symbols` `["*"]` or absent: every key of the
  channel), `{"op": "ping"}`;
- server: `{"type": "connection", "state": "connected"}` first, then `subscribed`,
  `unsubscribed`, `snapshot` (the current value, right after subscribing), `update`, `pong` and
  `error` (`{"type": "error", "message": ...}`) messages.
A malformed message gets an error message; an oversized one, or too many bad ones, closes the
socket with 1009 / 1008 and a reason. Nothing a client sends can crash the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, WebSocket, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import BaseRouteHandler
from litestar.params import FromQuery, QueryParameter
from litestar.response import Response

from query_api.auth import authorized
from query_api.errors import unauthorized
from query_api.state import ApiState
from query_api.symbols import SymbolError, canonical
from query_api.ws import signalr
from query_api.ws.fanout import CHANNELS, WILDCARD, Client, Frame, Update

MAX_CLIENT_MESSAGE: Final = 16 * 1024
MAX_ERRORS: Final = 20
SYMBOL_CHANNELS: Final = frozenset({"prices", "book", "trades", "candles", "indicators"})
TIMEFRAME_CHANNELS: Final = frozenset({"candles", "indicators"})


class Envelope(msgspec.Struct, frozen=True):
    type: str
    channel: str | None = None
    key: str | None = None
    data: object = None
    message: str | None = None
    state: str | None = None
    keys: list[str] | None = None


class ClientMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    op: Literal["subscribe", "unsubscribe", "ping"]
    channel: str | None = None
    symbols: list[str] | None = None
    timeframe: str | None = None
    exchange: str = "kraken"


_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


def _envelope(update: Update, kind: str = "update") -> Envelope:
    return Envelope(type=kind, channel=update.channel, key=update.key, data=update.payload)


def encode_json(update: Update) -> Frame:
    return _json.encode(_envelope(update)).decode()


def encode_msgpack(update: Update) -> Frame:
    return _msgpack.encode(_envelope(update))


class SocketSender:
    """The fan-out client's view of a Litestar WebSocket."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], *, before_close: bytes | None = None
    ) -> None:
        self._socket = socket
        self._before_close = before_close

    async def send(self, data: Frame) -> None:
        if isinstance(data, str):
            await self._socket.send_text(data)
        else:
            await self._socket.send_bytes(data)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if self._before_close is not None:
                await self._socket.send_text(signalr.close(reason, allow_reconnect=True).decode())
            await self._socket.close(code, reason[:120])


def _keys(api: ApiState, message: ClientMessage) -> list[str] | str:
    """The fan-out keys a subscribe/unsubscribe names, or an error text."""
    channel = message.channel
    if channel not in CHANNELS:
        return f"unknown channel {channel!r}; one of {', '.join(sorted(CHANNELS))}"
    symbols = message.symbols or [WILDCARD]
    if WILDCARD in symbols or channel not in SYMBOL_CHANNELS:
        return [WILDCARD]
    if channel in TIMEFRAME_CHANNELS and not message.timeframe:
        return f"channel {channel} needs a timeframe (1m, 5m, 15m, 1h, 4h, 1d)"
    if len(symbols) > 100:
        return "at most 100 symbols per message"
    keys = []
    for raw in symbols:
        try:
            symbol = canonical(raw, {k.split(":", 1)[1] for k in api.model.symbols()})
        except SymbolError as exc:
            return str(exc)
        key = f"{message.exchange}:{symbol}"
        keys.append(f"{key}:{message.timeframe}" if channel in TIMEFRAME_CHANNELS else key)
    return keys


def snapshot(api: ApiState, channel: str, key: str) -> list[Update]:
    """The current values a new subscriber gets first."""
    m = api.model
    if channel == "prices":
        items: list[tuple[str, object]] = list(m.prices.items())
    elif channel == "book":
        items = list(m.books.items())
    elif channel == "candles":
        items = [(k, s.candles[s.open_times[-1]]) for k, s in m.candles.items() if s.open_times]
    elif channel == "indicators":
        items = list(m.indicators.items())
    elif channel == "trades":
        items = [(k, q[-1]) for k, q in m.trades.items() if q]
    elif channel == "balances":
        items = list(m.balances.items())
    elif channel == "positions":
        items = list(m.positions.items())
    elif channel == "status":
        items = list(m.status.items())
    else:
        items = [(k, a) for k, a in m.alerts.items() if a.active]
    return [
        Update(channel, k, None, None, v)
        for k, v in sorted(items, key=lambda kv: kv[0])
        if key in (WILDCARD, k)
    ]


def relay_handler(api: ApiState) -> BaseRouteHandler:
    @websocket("/ws")
    async def relay(socket: WebSocket[Any, Any, Any], format: FromQuery[str] = "json") -> None:
        if not authorized(api.settings, socket):
            await socket.close(4401, "unauthorized: an API key is required")
            return
        if format not in ("json", "msgpack"):
            await socket.accept()
            await socket.close(1003, "format must be json or msgpack")
            return
        await socket.accept()
        binary = format == "msgpack"
        encode: Callable[[object], Frame] = (
            _msgpack.encode if binary else (lambda o: _json.encode(o).decode())
        )
        encoder = encode_msgpack if binary else encode_json
        client = Client(SocketSender(socket), format, encoder)
        await client.start()
        errors = 0
        try:
            await client.sender.send(encode(Envelope(type="connection", state="connected")))
            while not client.closed:
                raw = await socket.receive_data("binary" if binary else "text")
                if len(raw) > MAX_CLIENT_MESSAGE:
                    await client.sender.close(1009, f"message over {MAX_CLIENT_MESSAGE} bytes")
                    break
                reply = _handle_relay_message(api, client, raw, binary)
                for item in reply:
                    if isinstance(item, Envelope):
                        if item.type == "error":
                            errors += 1
                        await client.sender.send(encode(item))
                    else:
                        client.offer(item)
                if errors > MAX_ERRORS:
                    await client.sender.close(1008, "too many invalid messages")
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await client.stop()
            api.hub.remove(client)

    return relay


def _handle_relay_message(
    api: ApiState, client: Client, raw: str | bytes, binary: bool
) -> list[Envelope | Update]:
    try:
        data = raw.encode() if isinstance(raw, str) else raw
        message = (
            msgspec.msgpack.decode(data, type=ClientMessage)
            if binary
            else msgspec.json.decode(data, type=ClientMessage)
        )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return [Envelope(type="error", message=f"invalid message: {exc}")]
    if message.op == "ping":
        return [Envelope(type="pong")]
    keys = _keys(api, message)
    if isinstance(keys, str):
        return [Envelope(type="error", message=keys, channel=message.channel)]
    channel = message.channel
    assert channel is not None
    if message.op == "unsubscribe":
        for key in keys:
            api.hub.unsubscribe(client, channel, key)
        return [Envelope(type="unsubscribed", channel=channel, keys=keys)]
    out: list[Envelope | Update] = [Envelope(type="subscribed", channel=channel, keys=keys)]
    for key in keys:
        api.hub.subscribe(client, channel, key)
        out += [
            Envelope(type="snapshot", channel=u.channel, key=u.key, data=u.payload)
            for u in snapshot(api, channel, key)
        ]
    return out


# ---- SignalR ------------------------------------------------------------------------------------

TARGETS: Final = {
    "prices": signalr.PRICE_UPDATE,
    "book": signalr.ORDER_BOOK_UPDATE,
    "trades": signalr.TRADE_UPDATE,
    "balances": signalr.BALANCE_UPDATE,
    "status": signalr.CONNECTION_STATE_CHANGED,
}
PING_CHANNEL: Final = "ping"


def encode_signalr(update: Update) -> Frame:
    if update.channel == PING_CHANNEL:
        return signalr.ping().decode()
    return signalr.invocation(TARGETS[update.channel], [update.payload]).decode()


def hub_handlers(api: ApiState) -> list[BaseRouteHandler]:
    path = api.settings.signalr.hub_path

    @post(f"{path}/negotiate", status_code=200, include_in_schema=False)
    async def negotiate(
        request: Request[Any, Any, Any],
        negotiate_version: Annotated[int, QueryParameter(name="negotiateVersion")] = 0,
    ) -> Response[bytes]:
        if not authorized(api.settings, request):
            raise unauthorized("an API key is required (Authorization: Bearer <key>)")
        connection_id = uuid.uuid4().hex
        body = signalr.negotiate_response(connection_id, uuid.uuid4().hex, negotiate_version)
        return Response(body, media_type="application/json")

    @websocket(path)
    async def hub(socket: WebSocket[Any, Any, Any]) -> None:
        if not authorized(api.settings, socket):
            await socket.close(4401, "unauthorized: an API key is required")
            return
        await socket.accept()
        try:
            first = await asyncio.wait_for(
                socket.receive_data("text"), signalr.HANDSHAKE_TIMEOUT_SECONDS
            )
        except (TimeoutError, WebSocketDisconnect, RuntimeError):
            with contextlib.suppress(Exception):
                await socket.close(1002, "no handshake")
            return
        result, rest = signalr.parse_handshake(first)
        await socket.send_text(signalr.handshake_response(result.error).decode())
        if result.error is not None:
            await socket.close(1002, "handshake failed")
            return
        client = Client(SocketSender(socket, before_close=b""), "signalr", encode_signalr)
        await client.start()
        for channel in ("status", "balances"):
            api.hub.subscribe(client, channel, WILDCARD)
            for update in snapshot(api, channel, WILDCARD):
                client.offer(update)
        keepalive = asyncio.create_task(_keepalive(client))
        try:
            pending: str | bytes = rest
            while not client.closed:
                if pending and not await _handle_hub_frame(api, client, pending):
                    break
                pending = await asyncio.wait_for(
                    socket.receive_data("text"), signalr.CLIENT_TIMEOUT_SECONDS
                )
        except TimeoutError:
            await client.sender.close(1000, "client timed out: nothing received for 30 s")
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            keepalive.cancel()
            await client.stop()
            api.hub.remove(client)

    return [negotiate, hub]


async def _keepalive(client: Client) -> None:
    while True:
        await asyncio.sleep(signalr.KEEP_ALIVE_INTERVAL_SECONDS)
        client.offer(Update(PING_CHANNEL, "ping", None, None, None))


async def _handle_hub_frame(api: ApiState, client: Client, frame: str | bytes) -> bool:
    """Handle every message of a frame; False once the connection must end."""
    for message in signalr.decode_messages(frame):
        if isinstance(message, signalr.ProtocolError):
            await client.sender.close(1002, message.message)
            return False
        if isinstance(message, signalr.Close):
            return False
        if isinstance(message, signalr.Invocation):
            await _invoke(api, client, message)
        elif isinstance(message, signalr.StreamInvocation):
            await client.sender.send(
                signalr.completion(
                    message.invocation_id, error="streaming is not supported"
                ).decode()
            )
    return True


async def _invoke(api: ApiState, client: Client, call: signalr.Invocation) -> None:
    method = signalr.resolve_client_method(call.target)
    result: object = None
    error: str | None = None
    if method is None:
        error = f"Unknown hub method '{call.target}'"
    else:
        symbols = signalr.parse_symbols_argument(call.arguments)
        if isinstance(symbols, str):
            error = symbols
        else:
            result, error = _hub_subscription(api, client, method, symbols)
    if call.invocation_id is not None:
        await client.sender.send(signalr.completion(call.invocation_id, result, error).decode())
    if error is None and method == signalr.SUBSCRIBE_TO_SYMBOLS and isinstance(result, dict):
        for key in result["keys"]:
            for channel in ("prices", "book"):
                for update in snapshot(api, channel, key):
                    client.offer(update)


def _hub_subscription(
    api: ApiState, client: Client, method: str, symbols: list[str]
) -> tuple[object, str | None]:
    known = {k.split(":", 1)[1] for k in api.model.symbols()}
    try:
        canon = [canonical(s, known) for s in symbols]
    except SymbolError as exc:
        return None, str(exc)
    keys = [f"kraken:{s}" for s in canon]
    for key in keys:
        for channel in ("prices", "book", "trades"):
            if method == signalr.SUBSCRIBE_TO_SYMBOLS:
                api.hub.subscribe(client, channel, key)
            else:
                api.hub.unsubscribe(client, channel, key)
    return {"symbols": canon, "keys": keys}, None


__all__ = ["hub_handlers", "relay_handler"]
