"""Client requests on Kraken WS v2, decoded and validated the way Kraken answers them.

`parse_request` turns one text frame into a `Ping`, a list of per-symbol `Subscription`s (Kraken
acknowledges each symbol separately, so each can fail on its own) or a `RequestError` carrying
Kraken's error text. Error strings are Kraken's where they are known from captures (see the
digest): `Currency pair not supported XBT/USD`, `Subscription Not Found`, `Symbol field must be
an array`, `ESession:Invalid session`, and the endpoint-mismatch texts.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Channel = Literal["book", "ticker", "trade", "ohlc", "instrument", "balances"]
PUBLIC_CHANNELS = frozenset({"book", "ticker", "trade", "ohlc", "instrument"})
PRIVATE_CHANNELS = frozenset({"balances", "executions", "level3"})
SYMBOL_CHANNELS = frozenset({"book", "ticker", "trade", "ohlc"})
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
EVENT_TRIGGERS = ("trades", "bbo")

MALFORMED = "Malformed request"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
METHOD_NOT_FOUND = "Method not found"
ALREADY_SUBSCRIBED = "Already subscribed"
NOT_FOUND = "Subscription Not Found"
INVALID_SESSION = "ESession:Invalid session"
BAD_DEPTH = "Subscription depth not supported"
BAD_INTERVAL = "Subscription ohlc interval not supported"
SYMBOL_NOT_ARRAY = "Symbol field must be an array"
PRIVATE_ON_PUBLIC = (
    "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com"
)
PUBLIC_ON_PRIVATE = (
    "Public market data subscriptions are unavailable on this endpoint. Try ws.kraken.com"
)


def unsupported_pair(symbol: str) -> str:
    return f"Currency pair not supported {symbol}"


def unsupported_channel(channel: str) -> str:
    return f"Channel {channel} not supported"


class _Envelope(msgspec.Struct):
    method: str
    params: msgspec.Raw = msgspec.Raw(b"null")
    req_id: int | None = None


class _Params(msgspec.Struct):
    channel: str
    symbol: object = msgspec.UNSET
    depth: object = msgspec.UNSET
    interval: object = msgspec.UNSET
    snapshot: object = msgspec.UNSET
    event_trigger: object = msgspec.UNSET
    token: object = msgspec.UNSET


class Ping(msgspec.Struct, frozen=True):
    req_id: int | None


class RequestError(msgspec.Struct, frozen=True, kw_only=True):
    """A refused request: Kraken's error text and the fields its error ack carries."""

    error: str
    method: str | None = None
    req_id: int | None = None
    symbol: str | None = None
    channel: str | None = None
    session: bool = False  # ESession errors add "channel" and "status": "error"


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """One (un)subscription of one channel for one symbol (None for symbol-less channels)."""

    method: Literal["subscribe", "unsubscribe"]
    channel: Channel
    symbol: str | None
    depth: int = 10
    interval: int = 1
    snapshot: bool = True
    event_trigger: str = "trades"
    token: str | None = None
    req_id: int | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """What makes two subscriptions the same on one connection."""
        if self.channel == "ohlc":
            return (self.channel, self.symbol or "", str(self.interval))
        return (self.channel, self.symbol or "")


Request = Ping | list[Subscription | RequestError] | RequestError

_envelope_decoder = msgspec.json.Decoder(_Envelope)
_params_decoder = msgspec.json.Decoder(_Params)


def parse_request(text: str | bytes, *, private: bool, symbols: frozenset[str]) -> Request:
    """Decode one client frame received on the public (or `private`) endpoint."""
    try:
        envelope = _envelope_decoder.decode(text)
    except msgspec.DecodeError:
        return RequestError(error=MALFORMED)
    method, req_id = envelope.method, envelope.req_id
    if method == "ping":
        return Ping(req_id)
    if method not in ("subscribe", "unsubscribe"):
        return RequestError(error=METHOD_NOT_FOUND, method=method, req_id=req_id)
    kind: Literal["subscribe", "unsubscribe"] = (
        "subscribe" if method == "subscribe" else "unsubscribe"
    )
    try:
        params = _params_decoder.decode(envelope.params)
    except msgspec.DecodeError:
        return RequestError(error=INVALID_ARGUMENTS, method=method, req_id=req_id)
    return _subscriptions(kind, params, req_id, private=private, symbols=symbols)


def _subscriptions(
    method: Literal["subscribe", "unsubscribe"],
    params: _Params,
    req_id: int | None,
    *,
    private: bool,
    symbols: frozenset[str],
) -> list[Subscription | RequestError] | RequestError:
    channel = params.channel

    def error(text: str, symbol: str | None = None) -> RequestError:
        return RequestError(error=text, method=method, req_id=req_id, symbol=symbol)

    if channel in PUBLIC_CHANNELS and private:
        return error(PUBLIC_ON_PRIVATE)
    if channel in PRIVATE_CHANNELS and not private:
        return error(PRIVATE_ON_PUBLIC)
    if channel not in PUBLIC_CHANNELS and channel != "balances":
        return error(unsupported_channel(channel))
    snapshot = _flag(params.snapshot, default=True)
    if snapshot is None:
        return error(INVALID_ARGUMENTS)
    if channel == "balances":
        token = params.token if isinstance(params.token, str) and params.token else None
        if token is None:
            return RequestError(
                error=INVALID_SESSION, method=method, req_id=req_id, channel=channel, session=True
            )
        return [
            Subscription(
                method=method,
                channel="balances",
                symbol=None,
                snapshot=snapshot,
                token=token,
                req_id=req_id,
            )
        ]
    if channel == "instrument":
        return [
            Subscription(
                method=method, channel="instrument", symbol=None, snapshot=snapshot, req_id=req_id
            )
        ]
    depth = _choice(params.depth, BOOK_DEPTHS, 10)
    if channel == "book" and depth is None:
        return error(BAD_DEPTH)
    interval = _choice(params.interval, OHLC_INTERVALS, 1)
    if channel == "ohlc" and interval is None:
        return error(BAD_INTERVAL)
    trigger = params.event_trigger
    if trigger is msgspec.UNSET:
        trigger = "trades"
    if channel == "ticker" and trigger not in EVENT_TRIGGERS:
        return error(INVALID_ARGUMENTS)
    if params.symbol is msgspec.UNSET:
        return error(INVALID_ARGUMENTS)
    if not isinstance(params.symbol, list) or not all(isinstance(s, str) for s in params.symbol):
        return error(SYMBOL_NOT_ARRAY)
    out: list[Subscription | RequestError] = []
    for symbol in params.symbol:
        if symbol not in symbols:
            out.append(error(unsupported_pair(symbol), symbol))
            continue
        out.append(
            Subscription(
                method=method,
                channel=channel,  # type: ignore[arg-type]  # narrowed by the checks above
                symbol=symbol,
                depth=depth or 10,
                interval=interval or 1,
                snapshot=snapshot,
                event_trigger=str(trigger),
                req_id=req_id,
            )
        )
    return out


def _flag(value: object, *, default: bool) -> bool | None:
    if value is msgspec.UNSET:
        return default
    return value if isinstance(value, bool) else None


def _choice(value: object, allowed: tuple[int, ...], default: int) -> int | None:
    if value is msgspec.UNSET:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        return None
    return value
