"""Kraken WebSocket v2 frames as typed structs, with Kraken's own field names.

`decode_frame` turns one text frame into exactly one of the `Kraken*Msg` types, or raises
`ParseError` (never anything else). Stream frames start with `{"channel":"<name>"` in practice, so
the channel is read from that prefix and the frame is decoded once, straight into its type; frames
in any other key order take a slower generic path with the same result. Unknown fields are ignored
(Kraken adds fields over time); missing or mistyped required fields are a ParseError.
"""

from __future__ import annotations

import contextlib
from typing import Final

import msgspec

from producers.errors import ParseError
from schemas.models import PriceLevel

Struct = msgspec.Struct

# A book level on the wire is `{"price": <number>, "qty": <number>}`, field for field the unified
# model's level, so book frames decode straight into `PriceLevel`: no per-level copy on the way to
# the order book or into the published `BookUpdate`.
KrakenLevel = PriceLevel


class KrakenBookData(Struct, frozen=True):
    symbol: str
    bids: list[KrakenLevel] = []
    asks: list[KrakenLevel] = []
    checksum: int | None = None
    timestamp: str | None = None


class KrakenBookMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenBookData]


class KrakenTickerData(Struct, frozen=True):
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    last: float
    volume: float
    vwap: float
    low: float
    high: float
    change: float
    change_pct: float = 0.0
    timestamp: str | None = None


class KrakenTickerMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenTickerData]


class KrakenTradeData(Struct, frozen=True):
    symbol: str
    side: str
    price: float
    qty: float
    trade_id: int
    timestamp: str
    ord_type: str | None = None


class KrakenTradeMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenTradeData]


class KrakenOhlcData(Struct, frozen=True):
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval_begin: str
    interval: int
    vwap: float = 0.0
    trades: int = 0
    timestamp: str | None = None


class KrakenOhlcMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenOhlcData]
    timestamp: str | None = None


class KrakenInstrumentPair(Struct, frozen=True):
    symbol: str
    base: str
    quote: str
    price_precision: int
    qty_precision: int
    status: str = ""
    price_increment: float | None = None
    qty_increment: float | None = None


class KrakenInstrumentAsset(Struct, frozen=True):
    id: str
    status: str = ""
    precision: int = 0


class KrakenInstrumentData(Struct, frozen=True):
    assets: list[KrakenInstrumentAsset] = []
    pairs: list[KrakenInstrumentPair] = []


class KrakenInstrumentMsg(Struct, frozen=True):
    channel: str
    type: str
    data: KrakenInstrumentData


class KrakenBalanceData(Struct, frozen=True):
    asset: str
    balance: float
    asset_class: str | None = None
    amount: float | None = None
    fee: float | None = None
    type: str | None = None
    ledger_id: str | None = None
    timestamp: str | None = None


class KrakenBalancesMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenBalanceData]
    sequence: int | None = None


class KrakenStatusData(Struct, frozen=True):
    system: str = ""
    api_version: str = ""
    connection_id: int = 0
    version: str = ""


class KrakenStatusMsg(Struct, frozen=True):
    channel: str
    type: str
    data: list[KrakenStatusData]


class KrakenHeartbeatMsg(Struct, frozen=True):
    channel: str


class KrakenPongMsg(Struct, frozen=True):
    method: str
    req_id: int | None = None
    time_in: str | None = None
    time_out: str | None = None


class KrakenAckResult(Struct, frozen=True):
    channel: str | None = None
    symbol: str | None = None
    depth: int | None = None
    interval: int | None = None
    snapshot: bool | None = None
    warnings: list[str] | None = None


class KrakenAckMsg(Struct, frozen=True):
    """The answer to subscribe/unsubscribe (one per symbol), successful or not."""

    method: str
    success: bool
    result: KrakenAckResult | None = None
    error: str | None = None
    symbol: str | None = None
    req_id: int | None = None
    time_in: str | None = None
    time_out: str | None = None


KrakenFrame = (
    KrakenBookMsg
    | KrakenTickerMsg
    | KrakenTradeMsg
    | KrakenOhlcMsg
    | KrakenInstrumentMsg
    | KrakenBalancesMsg
    | KrakenStatusMsg
    | KrakenHeartbeatMsg
    | KrakenPongMsg
    | KrakenAckMsg
)

_CHANNELS: Final[dict[str, type[Struct]]] = {
    "book": KrakenBookMsg,
    "ticker": KrakenTickerMsg,
    "trade": KrakenTradeMsg,
    "ohlc": KrakenOhlcMsg,
    "instrument": KrakenInstrumentMsg,
    "balances": KrakenBalancesMsg,
    "status": KrakenStatusMsg,
    "heartbeat": KrakenHeartbeatMsg,
}
_DECODERS: Final = {name: msgspec.json.Decoder(t) for name, t in _CHANNELS.items()}
_ACK: Final = msgspec.json.Decoder(KrakenAckMsg)
_PONG: Final = msgspec.json.Decoder(KrakenPongMsg)
_PREFIX: Final = b'{"channel":"'
_NAME_AT: Final = len(_PREFIX)
# The stream's channel prefix → its decoder, keyed by the raw bytes so routing is one slice.
_BY_PREFIX: Final = {name.encode(): decoder for name, decoder in _DECODERS.items()}


class _Envelope(Struct, frozen=True):
    channel: str | None = None
    method: str | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)


def _route(data: bytes) -> str:
    if data.startswith(_PREFIX):
        end = data.find(b'"', _NAME_AT)
        if end > 0:
            return data[_NAME_AT:end].decode("ascii", "replace")
    envelope = _ENVELOPE.decode(data)
    if envelope.channel is not None:
        return envelope.channel
    if envelope.method == "pong":
        return "#pong"
    if envelope.method in ("subscribe", "unsubscribe"):
        return "#ack"
    raise ParseError(
        "kraken", "?", f"neither a channel nor a known method ({envelope.method})", data
    )


def _decode_routed(raw: bytes) -> KrakenFrame:
    channel = _route(raw)
    if channel == "#ack":
        return _ACK.decode(raw)
    if channel == "#pong":
        return _PONG.decode(raw)
    decoder = _DECODERS.get(channel)
    if decoder is None:
        raise ParseError("kraken", channel, "unknown channel", raw)
    frame: KrakenFrame = decoder.decode(raw)  # type: ignore[assignment]
    return frame


def decode_frame(data: bytes | str) -> KrakenFrame:
    raw = data if isinstance(data, bytes) else data.encode()
    try:
        # Stream frames lead with their channel: one slice picks the decoder (the hot path).
        decoder = _BY_PREFIX.get(raw[_NAME_AT : raw.find(b'"', _NAME_AT)])
        if decoder is not None and raw.startswith(_PREFIX):
            frame: KrakenFrame = decoder.decode(raw)  # type: ignore[assignment]
            return frame
        return _decode_routed(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        channel = "?"
        with contextlib.suppress(ParseError, msgspec.DecodeError, msgspec.ValidationError):
            channel = _route(raw)
        raise ParseError("kraken", channel, str(exc), raw) from None
