"""The SignalR hub protocol, sans I/O: what our SignalR-compatible hub reads and writes.

Clients (`@microsoft/signalr`, pysignalr, signalrcore) speak the ASP.NET Core SignalR JSON hub
protocol. This module turns their bytes into typed messages and our replies into bytes; the
Litestar handler owns the socket, the timers and the subscriptions, and stays a thin loop::

    POST {hub}/negotiate  -> negotiate_response(...), status 200 (Litestar's @post says 201)
    first text frame      -> parse_handshake(frame); send handshake_response(result.error);
                             on error close, else decode_messages(rest) if rest
    every later frame     -> decode_messages(frame); handle each item in order; a ProtocolError
                             (always the last item) means: send close(error.message), close
    idle for 15 s         -> send ping(); nothing received for 30 s -> close the socket
    push                  -> invocation(PRICE_UPDATE, [record]), encoded once, sent to all

Every encoder returns the frame as UTF-8 bytes ending with the record separator `RS` (0x1E). The
JS client accepts JSON only in *text* frames: send with `socket.send_text(frame)` (it decodes).

The subset we implement, and why:

* JSON only. Our dashboard uses JSON; negotiate offers the `Text` transfer format only, so a
  MessagePack client fails cleanly at negotiate (or at the handshake: "protocol not available").
* WebSockets only. Negotiate advertises no SSE or long polling; a client limited to those fails
  cleanly instead of half-working.
* No stateful reconnect. Negotiate never says `useStatefulReconnect`; handshake version 2 (which
  the JS client sends only after that) is refused; Ack/Sequence (types 8, 9) are protocol errors.
* Handshake versions 0 and 1 are both accepted: signalrcore echoes the negotiate version it got
  back, which is 0 because it never asks for version 1 (so is ASP.NET Core's own rule).
* Client-to-server calls are single-value methods: Invocation (1), StreamInvocation (4) and
  CancelInvocation (5) are decoded so the handler can answer them, StreamItem (2) and
  Completion (3) are decoded and may be ignored, Ping (6) and Close (7) as usual.
* Server-to-client pushes are Invocations without `invocationId` (fire and forget); answers to
  client calls are exactly one Completion each.
* Message `headers` are accepted and dropped on purpose: the Python clients put their HTTP
  headers there, bearer token included, and a decoded message must be safe to log.
* One frame is a whole number of messages: the JS client never splits a message across frames,
  so a frame that does not end with RS is an error rather than something to buffer.
"""

from __future__ import annotations

from typing import Final

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "BALANCE_UPDATE",
    "CLIENT_METHODS",
    "CLIENT_TIMEOUT_SECONDS",
    "CONNECTION_STATE_CHANGED",
    "HANDSHAKE_TIMEOUT_SECONDS",
    "HIGHEST_NEGOTIATE_VERSION",
    "KEEP_ALIVE_INTERVAL_SECONDS",
    "MAX_MESSAGE_BYTES",
    "MAX_SYMBOLS_PER_CALL",
    "MAX_SYMBOL_LENGTH",
    "ORDER_BOOK_UPDATE",
    "PRICE_UPDATE",
    "PROTOCOL_NAME",
    "RS",
    "SERVER_METHODS",
    "SUBSCRIBE_TO_SYMBOLS",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "TRADE_UPDATE",
    "UNSUBSCRIBE_FROM_SYMBOLS",
    "CancelInvocation",
    "Close",
    "Completion",
    "HandshakeResult",
    "HubMessage",
    "IncompleteMessageError",
    "Invocation",
    "Ping",
    "ProtocolError",
    "StreamInvocation",
    "StreamItem",
    "close",
    "completion",
    "decode_messages",
    "handshake_response",
    "invocation",
    "negotiate_response",
    "parse_handshake",
    "parse_symbols_argument",
    "ping",
    "resolve_client_method",
    "split_records",
]

RS: Final = b"\x1e"
"""The record separator that ends every message, the handshake included."""

MAX_MESSAGE_BYTES: Final = 64 * 1024
"""Largest inbound frame we decode (ASP.NET Core's default per message is 32 KiB)."""

KEEP_ALIVE_INTERVAL_SECONDS: Final = 15.0
"""Send `ping()` when nothing else was sent for this long (ASP.NET Core default)."""

CLIENT_TIMEOUT_SECONDS: Final = 30.0
"""Drop a client that sent nothing for this long (ASP.NET Core default)."""

HANDSHAKE_TIMEOUT_SECONDS: Final = 15.0
"""Drop a client whose handshake has not arrived after this long (ASP.NET Core default)."""

PROTOCOL_NAME: Final = "json"
SUPPORTED_PROTOCOL_VERSIONS: Final = frozenset({0, 1})
HIGHEST_NEGOTIATE_VERSION: Final = 1

# Hub methods, spelled as in the original .NET hub. Clients call these (case-insensitively, like
# ASP.NET Core: see `resolve_client_method`) ...
SUBSCRIBE_TO_SYMBOLS: Final = "SubscribeToSymbols"
UNSUBSCRIBE_FROM_SYMBOLS: Final = "UnsubscribeFromSymbols"
CLIENT_METHODS: Final = (SUBSCRIBE_TO_SYMBOLS, UNSUBSCRIBE_FROM_SYMBOLS)
# ... and we call these on clients (pysignalr and signalrcore match them exactly).
PRICE_UPDATE: Final = "PriceUpdate"
ORDER_BOOK_UPDATE: Final = "OrderBookUpdate"
TRADE_UPDATE: Final = "TradeUpdate"
BALANCE_UPDATE: Final = "BalanceUpdate"
CONNECTION_STATE_CHANGED: Final = "ConnectionStateChanged"
SERVER_METHODS: Final = (
    PRICE_UPDATE,
    ORDER_BOOK_UPDATE,
    TRADE_UPDATE,
    BALANCE_UPDATE,
    CONNECTION_STATE_CHANGED,
)

MAX_SYMBOLS_PER_CALL: Final = 100
MAX_SYMBOL_LENGTH: Final = 32


# --- messages -----------------------------------------------------------------------------------


class _Message(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    rename="camel",
    omit_defaults=True,
    tag_field="type",
):
    """Base of the hub messages: tagged by the integer `type`, camelCase field names."""


class Invocation(_Message, frozen=True, kw_only=True, tag=1):
    """Call `target` with `arguments`; without `invocation_id` nobody answers it."""

    invocation_id: str | None = None
    target: str
    arguments: list[object]
    stream_ids: list[str] | None = None


class StreamItem(_Message, frozen=True, kw_only=True, tag=2):
    """One item of a stream (client upload streams: we offer none)."""

    invocation_id: str
    item: object = None


class Completion(_Message, frozen=True, kw_only=True, tag=3):
    """The end of an invocation: `result`, `error`, or neither (void); never both."""

    invocation_id: str
    result: object | UnsetType = UNSET
    error: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.result is not UNSET and self.error is not UNSET:
            raise ValueError("a Completion carries 'result' or 'error', never both")


class StreamInvocation(_Message, frozen=True, kw_only=True, tag=4):
    """Call a streaming method (we have none: answer with an error Completion)."""

    invocation_id: str
    target: str
    arguments: list[object]
    stream_ids: list[str] | None = None


class CancelInvocation(_Message, frozen=True, kw_only=True, tag=5):
    """Stop the stream started by `invocation_id`."""

    invocation_id: str


class Ping(_Message, frozen=True, kw_only=True, tag=6):
    """Keep-alive; carries nothing."""


class Close(_Message, frozen=True, kw_only=True, tag=7):
    """The sender is closing; `allow_reconnect=True` lets the JS client reconnect automatically."""

    error: str | None = None
    allow_reconnect: bool | None = None


HubMessage = (
    Invocation | StreamItem | Completion | StreamInvocation | CancelInvocation | Ping | Close
)


class ProtocolError(msgspec.Struct, frozen=True):
    """A client frame or record we cannot accept; answer with `close(message)` and close."""

    message: str


class IncompleteMessageError(ValueError):
    """A frame does not end with the record separator."""


class _TypeProbe(msgspec.Struct):
    type: int


_TYPE_NAMES: Final = {
    1: "Invocation",
    2: "StreamItem",
    3: "Completion",
    4: "StreamInvocation",
    5: "CancelInvocation",
    6: "Ping",
    7: "Close",
    8: "Ack",
    9: "Sequence",
}
_STATEFUL_RECONNECT_TYPES: Final = frozenset({8, 9})

_ENCODER: Final = msgspec.json.Encoder()
_MESSAGE_DECODER: Final[msgspec.json.Decoder[HubMessage]] = msgspec.json.Decoder(HubMessage)
_PROBE_DECODER: Final = msgspec.json.Decoder(_TypeProbe)


# --- framing ------------------------------------------------------------------------------------


def _as_bytes(data: bytes | str) -> bytes:
    # surrogatepass: a stray surrogate becomes invalid UTF-8 that the decoder reports, no raise.
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def _too_large(data: bytes | str) -> bool:
    # A str longer than the limit in characters is longer in bytes too: skip encoding it.
    return len(data) > MAX_MESSAGE_BYTES or len(_as_bytes(data)) > MAX_MESSAGE_BYTES


def split_records(data: bytes | str) -> list[bytes]:
    """Split a frame into its records, separators removed; `[]` for an empty frame.

    Raises `IncompleteMessageError` when the frame does not end with `RS`.
    """
    raw = _as_bytes(data)
    if not raw:
        return []
    if not raw.endswith(RS):
        raise IncompleteMessageError("Message is incomplete: a frame must end with 0x1E.")
    return raw[:-1].split(RS)


def _frame(message: msgspec.Struct) -> bytes:
    return _ENCODER.encode(message) + RS


# --- negotiate and handshake --------------------------------------------------------------------


class _Transport(msgspec.Struct, frozen=True, rename="camel"):
    transport: str
    transfer_formats: tuple[str, ...]


class _NegotiateResponse(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    negotiate_version: int
    connection_id: str
    connection_token: str | UnsetType = UNSET
    available_transports: tuple[_Transport, ...]


_WEBSOCKETS_TEXT_ONLY: Final = (_Transport("WebSockets", ("Text",)),)


def negotiate_response(connection_id: str, connection_token: str, negotiate_version: int) -> bytes:
    """The JSON body for `POST {hub}/negotiate` (serve it with status 200).

    `negotiate_version` is the client's `negotiateVersion` query parameter (0 when absent); we
    answer min(requested, 1). Version 0 has no `connectionToken`: such clients put the
    `connectionId` in `id=`. Only WebSockets with `Text` is offered; stateful reconnect never is.
    """
    version = max(0, min(negotiate_version, HIGHEST_NEGOTIATE_VERSION))
    return _ENCODER.encode(
        _NegotiateResponse(
            negotiate_version=version,
            connection_id=connection_id,
            connection_token=connection_token if version >= 1 else UNSET,
            available_transports=_WEBSOCKETS_TEXT_ONLY,
        )
    )


class _HandshakeRequest(msgspec.Struct, frozen=True):
    protocol: str
    version: int


class _HandshakeError(msgspec.Struct, frozen=True):
    error: str


class HandshakeResult(msgspec.Struct, frozen=True):
    """The outcome of `parse_handshake`: the accepted protocol `version`, or an `error`.

    The error text is meant for the client: send it with `handshake_response(result.error)`.
    """

    version: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _check_handshake(request: _HandshakeRequest) -> HandshakeResult:
    if request.protocol != PROTOCOL_NAME:
        return HandshakeResult(error=f"Requested protocol '{request.protocol}' is not available.")
    if request.version not in SUPPORTED_PROTOCOL_VERSIONS:
        return HandshakeResult(
            error=(
                f"The server does not support version {request.version} "
                f"of the '{PROTOCOL_NAME}' protocol."
            )
        )
    return HandshakeResult(version=request.version)


def _decode_handshake(record: bytes) -> HandshakeResult:
    try:
        request = msgspec.json.decode(record, type=_HandshakeRequest)
    except msgspec.ValidationError as exc:
        return HandshakeResult(error=f"Invalid handshake request: {exc}.")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return HandshakeResult(error="Handshake request is not valid JSON.")
    return _check_handshake(request)


def parse_handshake(data: bytes | str) -> tuple[HandshakeResult, bytes]:
    """Parse the first record of a connection, `{"protocol":"json","version":1}` + RS.

    Returns the result and the bytes after the first separator: further messages may share the
    frame (decode them with `decode_messages` once the handshake succeeded; ignore them if not).
    Never raises for client input.
    """
    if _too_large(data):
        return HandshakeResult(error=f"Handshake exceeds {MAX_MESSAGE_BYTES} bytes."), b""
    record, separator, rest = _as_bytes(data).partition(RS)
    if not separator:
        return HandshakeResult(error="Handshake request is incomplete: no 0x1E separator."), b""
    return _decode_handshake(record), rest


_HANDSHAKE_OK: Final = b"{}" + RS


def handshake_response(error: str | None) -> bytes:
    """`{}` + RS when the handshake succeeded, else `{"error": ...}` + RS (then close).

    The error must be non-empty: the JS client treats an empty error as success.
    """
    if error is None:
        return _HANDSHAKE_OK
    if not error:
        raise ValueError("a handshake error must be a non-empty text")
    return _frame(_HandshakeError(error))


# --- decoding -----------------------------------------------------------------------------------


def _describe_invalid(record: bytes, exc: msgspec.ValidationError) -> str:
    try:
        message_type = _PROBE_DECODER.decode(record).type
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return f"Invalid message: {exc}."
    name = _TYPE_NAMES.get(message_type)
    if name is None:
        return f"Unknown message type {message_type}."
    if message_type in _STATEFUL_RECONNECT_TYPES:
        return f"Message type {message_type} ({name}) needs stateful reconnect, not offered here."
    return f"Invalid {name} message: {exc}."


def _decode_record(record: bytes) -> HubMessage | ProtocolError:
    if not record.strip():
        return ProtocolError("Empty message.")
    try:
        return _MESSAGE_DECODER.decode(record)
    except msgspec.ValidationError as exc:
        return ProtocolError(_describe_invalid(record, exc))
    except RecursionError:
        return ProtocolError("Message is nested too deeply.")
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ProtocolError("Message is not valid JSON.")


def decode_messages(data: bytes | str) -> list[HubMessage | ProtocolError]:
    """Decode every record of one client frame, in order; never raises for client input.

    Decoding stops at the first bad record: a `ProtocolError`, if any, is the last item, and the
    messages before it are valid. An oversized or incomplete frame yields only a `ProtocolError`.
    """
    if _too_large(data):
        return [ProtocolError(f"Message exceeds {MAX_MESSAGE_BYTES} bytes.")]
    try:
        records = split_records(data)
    except IncompleteMessageError as exc:
        return [ProtocolError(str(exc))]
    messages: list[HubMessage | ProtocolError] = []
    for record in records:
        message = _decode_record(record)
        messages.append(message)
        if isinstance(message, ProtocolError):
            break
    return messages


# --- encoding -----------------------------------------------------------------------------------


def invocation(target: str, arguments: list[object]) -> bytes:
    """A fire-and-forget call of client method `target` (no `invocationId`: nobody answers).

    Arguments may be msgspec Structs (enums become their values). Encode once per event and
    send the same bytes to every subscriber. Raises TypeError for an unencodable argument.
    """
    return _frame(Invocation(target=target, arguments=arguments))


def completion(invocation_id: str, result: object = None, error: str | None = None) -> bytes:
    """The one answer to a client Invocation that carried `invocation_id`.

    `result=None` and `error=None` make a void completion; passing both raises ValueError.
    """
    return _frame(
        Completion(
            invocation_id=invocation_id,
            result=UNSET if result is None else result,
            error=UNSET if error is None else error,
        )
    )


_PING: Final = _frame(Ping())


def ping() -> bytes:
    """The keep-alive message, `{"type":6}` + RS (one shared constant)."""
    return _PING


def close(error: str | None = None, allow_reconnect: bool | None = None) -> bytes:
    """A Close message; send it, then close the socket.

    Use `allow_reconnect=True` for transient causes (slow consumer, shutdown): the JS client's
    automatic reconnect skips a Close without it, so leave it out only for permanent errors.
    """
    return _frame(Close(error=error, allow_reconnect=allow_reconnect))


# --- our hub methods ----------------------------------------------------------------------------

_CLIENT_METHODS_BY_KEY: Final = {name.lower(): name for name in CLIENT_METHODS}


def resolve_client_method(target: str) -> str | None:
    """The canonical name of client-invokable method `target`, matched case-insensitively."""
    return _CLIENT_METHODS_BY_KEY.get(target.lower())


def parse_symbols_argument(arguments: list[object]) -> list[str] | str:
    """Validate the arguments of SubscribeToSymbols / UnsubscribeFromSymbols.

    Returns the symbols (a new list, possibly empty) or an error text for a Completion.
    """
    if len(arguments) != 1:
        return f"Expected 1 argument (a list of symbols), got {len(arguments)}."
    candidates = arguments[0]
    if not isinstance(candidates, list):
        return "The argument must be a list of symbols."
    if len(candidates) > MAX_SYMBOLS_PER_CALL:
        return f"At most {MAX_SYMBOLS_PER_CALL} symbols per call, got {len(candidates)}."
    symbols: list[str] = []
    for index, candidate in enumerate(candidates):
        if not isinstance(candidate, str) or not 0 < len(candidate) <= MAX_SYMBOL_LENGTH:
            return (
                f"Symbol at index {index} must be a non-empty string "
                f"of at most {MAX_SYMBOL_LENGTH} characters."
            )
        symbols.append(candidate)
    return symbols
