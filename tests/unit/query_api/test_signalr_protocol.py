"""The SignalR JSON hub protocol: negotiate, handshake, framing, messages and our hub methods."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from query_api.ws import signalr
from query_api.ws.signalr import (
    RS,
    CancelInvocation,
    Close,
    Completion,
    IncompleteMessageError,
    Invocation,
    Ping,
    ProtocolError,
    StreamInvocation,
)
from schemas.models import CircuitState, ConnectionState, ConnectionStatus

T0 = 1_764_000_000_123_456
HANDSHAKE = b'{"protocol":"json","version":1}\x1e'


def only_error(messages: list[signalr.HubMessage | ProtocolError]) -> str:
    """The message of the single ProtocolError a frame decoded to."""
    assert len(messages) == 1
    error = messages[0]
    assert isinstance(error, ProtocolError)
    return error.message


# --- negotiate ----------------------------------------------------------------------------------


def test_negotiate_v1_has_token_and_websockets_text_only() -> None:
    body = json.loads(signalr.negotiate_response("c1", "t1", 1))
    assert body == {
        "negotiateVersion": 1,
        "connectionId": "c1",
        "connectionToken": "t1",
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text"]}],
    }


def test_negotiate_v0_has_only_the_connection_id() -> None:
    body = json.loads(signalr.negotiate_response("c1", "t1", 0))
    assert body == {
        "negotiateVersion": 0,
        "connectionId": "c1",
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text"]}],
    }


@pytest.mark.parametrize(("requested", "answered"), [(2, 1), (99, 1), (-1, 0)])
def test_negotiate_answers_min_of_requested_and_1(requested: int, answered: int) -> None:
    body = json.loads(signalr.negotiate_response("c1", "t1", requested))
    assert body["negotiateVersion"] == answered
    assert ("connectionToken" in body) is (answered == 1)
    assert "useStatefulReconnect" not in body


# --- handshake ----------------------------------------------------------------------------------


def test_handshake_response_bytes() -> None:
    assert signalr.handshake_response(None) == b"{}\x1e"
    assert signalr.handshake_response("Requested protocol 'messagepack' is not available.") == (
        b'{"error":"Requested protocol \'messagepack\' is not available."}\x1e'
    )


def test_handshake_response_refuses_an_empty_error() -> None:
    # The JS client would read {"error":""} as success.
    with pytest.raises(ValueError, match="non-empty"):
        signalr.handshake_response("")


FIRST_FRAME = HANDSHAKE + b'{"type":6}\x1e'


@pytest.mark.parametrize("frame", [FIRST_FRAME, FIRST_FRAME.decode()])
def test_handshake_then_ping_in_the_same_frame(frame: bytes | str) -> None:
    # The JS client's first frames: the handshake, then {"type":6} right behind it.
    result, rest = signalr.parse_handshake(frame)
    assert result.ok
    assert result.version == 1
    assert rest == b'{"type":6}\x1e'
    assert signalr.decode_messages(rest) == [Ping()]


def test_handshake_alone_leaves_nothing() -> None:
    result, rest = signalr.parse_handshake(HANDSHAKE)
    assert result == signalr.HandshakeResult(version=1)
    assert rest == b""


def test_handshake_version_0_is_accepted_for_signalrcore() -> None:
    # signalrcore echoes the negotiate version it was given: 0 (it never asks for 1).
    result, _ = signalr.parse_handshake(b'{"protocol":"json","version":0}\x1e')
    assert result.ok
    assert result.version == 0


def test_handshake_ignores_unknown_fields() -> None:
    result, _ = signalr.parse_handshake(b'{"protocol":"json","version":1,"extra":[1]}\x1e')
    assert result.ok


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (
            b'{"protocol":"messagepack","version":1}\x1e',
            "Requested protocol 'messagepack' is not available.",
        ),
        (
            b'{"protocol":"json","version":2}\x1e',
            "The server does not support version 2 of the 'json' protocol.",
        ),
        (b'{"protocol":"json"\x1e', "Handshake request is not valid JSON."),
        (b"\x1e", "Handshake request is not valid JSON."),
        (
            b'{"protocol":"json"}\x1e',
            "Invalid handshake request: Object missing required field `version`.",
        ),
        (
            b'{"version":1}\x1e',
            "Invalid handshake request: Object missing required field `protocol`.",
        ),
        (
            b'{"protocol":"json","version":"1"}\x1e',
            "Invalid handshake request: Expected `int`, got `str` - at `$.version`.",
        ),
        (b'{"protocol":"json","version":1}', "Handshake request is incomplete: no 0x1E separator."),
        (b"", "Handshake request is incomplete: no 0x1E separator."),
    ],
)
def test_handshake_errors_are_precise(frame: bytes, error: str) -> None:
    result, _ = signalr.parse_handshake(frame)
    assert not result.ok
    assert result.version is None
    assert result.error == error
    assert b'"type"' not in signalr.handshake_response(result.error)


def test_oversized_handshake_is_refused() -> None:
    frame = b'{"protocol":"json","version":1,"pad":"' + b"x" * signalr.MAX_MESSAGE_BYTES + b'"}\x1e'
    result, rest = signalr.parse_handshake(frame)
    assert result.error == f"Handshake exceeds {signalr.MAX_MESSAGE_BYTES} bytes."
    assert rest == b""


# --- decoding -----------------------------------------------------------------------------------


def test_invocation_with_invocation_id_drops_headers() -> None:
    frame = (
        b'{"type":1,"invocationId":"0","target":"SubscribeToSymbols",'
        b'"arguments":[["BTC/USD","ETH/USD"]],"headers":{"Authorization":"Bearer secret"}}\x1e'
    )
    [message] = signalr.decode_messages(frame)
    assert message == Invocation(
        invocation_id="0", target="SubscribeToSymbols", arguments=[["BTC/USD", "ETH/USD"]]
    )
    assert "secret" not in repr(message)  # the Python clients put their bearer token there


def test_invocation_without_invocation_id_is_fire_and_forget() -> None:
    frame = b'{"type":1,"target":"UnsubscribeFromSymbols","arguments":[["BTC/USD"]]}\x1e'
    [message] = signalr.decode_messages(frame)
    assert isinstance(message, Invocation)
    assert message.invocation_id is None
    assert message.target == "UnsubscribeFromSymbols"
    assert message.arguments == [["BTC/USD"]]
    assert message.stream_ids is None


def test_null_invocation_id_counts_as_absent() -> None:
    frame = b'{"type":1,"invocationId":null,"target":"X","arguments":[]}\x1e'
    assert signalr.decode_messages(frame) == [Invocation(target="X", arguments=[])]


def test_several_records_in_one_frame_in_order() -> None:
    frame = (
        b'{"type":6}\x1e'
        b'{"type":4,"invocationId":"7","target":"Stream","arguments":[1],"streamIds":["s1"]}\x1e'
        b'{"type":5,"invocationId":"7"}\x1e'
        b'{"type":3,"invocationId":"9","result":{"ok":true}}\x1e'
        b'{"type":2,"invocationId":"9","item":42}\x1e'
        b'{"type":7,"error":"bye","allowReconnect":true}\x1e'
    )
    assert signalr.decode_messages(frame) == [
        Ping(),
        StreamInvocation(invocation_id="7", target="Stream", arguments=[1], stream_ids=["s1"]),
        CancelInvocation(invocation_id="7"),
        Completion(invocation_id="9", result={"ok": True}),
        signalr.StreamItem(invocation_id="9", item=42),
        Close(error="bye", allow_reconnect=True),
    ]


def test_bare_close_from_the_js_client() -> None:
    assert signalr.decode_messages('{"type":7}\x1e') == [Close()]


def test_empty_frame_has_no_messages() -> None:
    assert signalr.decode_messages(b"") == []
    assert signalr.split_records(b"") == []


def test_split_records() -> None:
    assert signalr.split_records('{"type":6}\x1e{"type":7}\x1e') == [b'{"type":6}', b'{"type":7}']
    with pytest.raises(IncompleteMessageError, match="incomplete"):
        signalr.split_records(b'{"type":6}\x1e{"type":7}')


@pytest.mark.parametrize("frame", [b'{"type":6}', b'{"type":6}\x1e{"type":6}', b'{"type":6}\x1e '])
def test_incomplete_frame_is_an_error(frame: bytes) -> None:
    assert only_error(signalr.decode_messages(frame)) == (
        "Message is incomplete: a frame must end with 0x1E."
    )


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b'{"type":42}\x1e', "Unknown message type 42."),
        (b'{"type":0}\x1e', "Unknown message type 0."),
        (
            b'{"type":8,"sequenceId":1}\x1e',
            "Message type 8 (Ack) needs stateful reconnect, not offered here.",
        ),
        (
            b'{"type":9,"sequenceId":1}\x1e',
            "Message type 9 (Sequence) needs stateful reconnect, not offered here.",
        ),
        (b'{"type":"1"}\x1e', "Invalid message: Expected `int` - at `$.type`."),
        (b'{"target":"X"}\x1e', "Invalid message: Object missing required field `type`."),
        (b"[1]\x1e", "Invalid message: Expected `object`, got `array`."),
        (b"{not json}\x1e", "Message is not valid JSON."),
        (b'{"type":6\x1e', "Message is not valid JSON."),
        (b'{"type":1,"target":"\xff","arguments":[]}\x1e', "Message is not valid JSON."),
        (b"\x1e", "Empty message."),
        (
            b'{"type":1,"target":"X"}\x1e',
            "Invalid Invocation message: Object missing required field `arguments`.",
        ),
        (
            b'{"type":1,"target":5,"arguments":[]}\x1e',
            "Invalid Invocation message: Expected `str`, got `int` - at `$.target`.",
        ),
        (
            b'{"type":1,"target":"X","arguments":{"a":1}}\x1e',
            "Invalid Invocation message: Expected `array`, got `object` - at `$.arguments`.",
        ),
        (
            b'{"type":7,"allowReconnect":"yes"}\x1e',
            "Invalid Close message: Expected `bool | null`, got `str` - at `$.allowReconnect`.",
        ),
        (
            b'{"type":3,"invocationId":"1","result":1,"error":"e"}\x1e',
            "Invalid Completion message: a Completion carries 'result' or 'error', never both.",
        ),
    ],
)
def test_bad_records_become_protocol_errors(frame: bytes, error: str) -> None:
    assert only_error(signalr.decode_messages(frame)) == error


def test_decoding_stops_at_the_first_bad_record() -> None:
    frame = b'{"type":6}\x1e{"type":42}\x1e{"type":7}\x1e'
    assert signalr.decode_messages(frame) == [
        Ping(),
        ProtocolError("Unknown message type 42."),
    ]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    depth = 30_000
    frame = b'{"type":1,"target":"X","arguments":' + b"[" * depth + b"]" * depth + b"}\x1e"
    assert len(frame) < signalr.MAX_MESSAGE_BYTES
    assert only_error(signalr.decode_messages(frame)) == "Message is nested too deeply."


def test_lone_surrogate_in_text_is_an_error_not_a_crash() -> None:
    assert only_error(
        signalr.decode_messages('{"type":1,"target":"\ud800","arguments":[]}\x1e')
    ) == ("Message is not valid JSON.")


def padded_invocation(size: int) -> bytes:
    """A valid Invocation frame of exactly `size` bytes."""
    empty = b'{"type":1,"target":"X","arguments":[""]}\x1e'
    pad = b"x" * (size - len(empty))
    return b'{"type":1,"target":"X","arguments":["' + pad + b'"]}\x1e'


def test_frame_of_exactly_the_limit_is_decoded() -> None:
    frame = padded_invocation(signalr.MAX_MESSAGE_BYTES)
    assert len(frame) == signalr.MAX_MESSAGE_BYTES
    [message] = signalr.decode_messages(frame)
    assert isinstance(message, Invocation)
    assert message.arguments == ["x" * (signalr.MAX_MESSAGE_BYTES - 41)]


@pytest.mark.parametrize(
    "frame",
    [
        padded_invocation(signalr.MAX_MESSAGE_BYTES + 1),
        padded_invocation(signalr.MAX_MESSAGE_BYTES + 1).decode(),
        # Fewer characters than the limit, more bytes: the limit is in bytes.
        '{"type":1,"target":"X","arguments":["' + "é" * 40_000 + '"]}\x1e',
    ],
)
def test_oversized_frame_is_an_error(frame: bytes | str) -> None:
    assert only_error(signalr.decode_messages(frame)) == (
        f"Message exceeds {signalr.MAX_MESSAGE_BYTES} bytes."
    )


# --- encoding -----------------------------------------------------------------------------------


def test_ping_is_one_shared_constant() -> None:
    assert signalr.ping() == b'{"type":6}\x1e'
    assert signalr.ping() is signalr.ping()


def test_invocation_bytes_have_no_invocation_id() -> None:
    assert signalr.invocation(signalr.PRICE_UPDATE, [{"symbol": "BTC/USD", "last": 97012.5}]) == (
        b'{"type":1,"target":"PriceUpdate","arguments":[{"symbol":"BTC/USD","last":97012.5}]}\x1e'
    )


def test_invocation_encodes_a_struct_with_enums_as_their_values() -> None:
    status = ConnectionStatus(
        exchange="kraken",
        state=ConnectionState.CONNECTED,
        since=T0,
        exchange_ts=T0,
        received_ts=T0 + 5,
        circuit=CircuitState.HALF_OPEN,
        symbol="BTC/USD",
    )
    frame = signalr.invocation(signalr.CONNECTION_STATE_CHANGED, [status])
    assert frame.endswith(RS)
    body = json.loads(frame[:-1])
    assert body["type"] == 1
    assert body["target"] == "ConnectionStateChanged"
    assert "invocationId" not in body
    [argument] = body["arguments"]
    assert argument["state"] == "connected"
    assert argument["circuit"] == "half_open"
    assert argument["exchange"] == "kraken"
    assert argument["received_ts"] == T0 + 5
    assert msgspec.convert(argument, ConnectionStatus) == status


def test_invocation_with_an_unencodable_argument_raises() -> None:
    with pytest.raises(TypeError):
        signalr.invocation(signalr.PRICE_UPDATE, [object()])


def test_completion_result_error_and_void() -> None:
    assert signalr.completion("0", result={"subscribed": ["BTC/USD"]}) == (
        b'{"type":3,"invocationId":"0","result":{"subscribed":["BTC/USD"]}}\x1e'
    )
    assert signalr.completion("1", error="Unknown method 'Foo'") == (
        b'{"type":3,"invocationId":"1","error":"Unknown method \'Foo\'"}\x1e'
    )
    assert signalr.completion("2") == b'{"type":3,"invocationId":"2"}\x1e'


@pytest.mark.parametrize(("result", "encoded"), [(0, b"0"), (False, b"false"), ("", b'""')])
def test_falsy_results_are_results_not_void(result: object, encoded: bytes) -> None:
    assert signalr.completion("0", result=result) == (
        b'{"type":3,"invocationId":"0","result":' + encoded + b"}\x1e"
    )


def test_completion_never_carries_result_and_error() -> None:
    with pytest.raises(ValueError, match="never both"):
        signalr.completion("0", result=[1], error="boom")


def test_close_bytes() -> None:
    assert signalr.close() == b'{"type":7}\x1e'
    assert signalr.close("slow consumer", allow_reconnect=True) == (
        b'{"type":7,"error":"slow consumer","allowReconnect":true}\x1e'
    )
    assert signalr.close("unauthorized", allow_reconnect=False) == (
        b'{"type":7,"error":"unauthorized","allowReconnect":false}\x1e'
    )


def test_our_encoders_round_trip_through_the_decoder() -> None:
    frame = b"".join(
        [
            signalr.invocation(signalr.TRADE_UPDATE, [{"price": 1.5}, "x", None]),
            signalr.completion("0", result=[1, 2]),
            signalr.completion("1", error="nope"),
            signalr.completion("2"),
            signalr.ping(),
            signalr.close("slow consumer", allow_reconnect=True),
            signalr.close(),
        ]
    )
    assert signalr.decode_messages(frame) == [
        Invocation(target="TradeUpdate", arguments=[{"price": 1.5}, "x", None]),
        Completion(invocation_id="0", result=[1, 2]),
        Completion(invocation_id="1", error="nope"),
        Completion(invocation_id="2"),
        Ping(),
        Close(error="slow consumer", allow_reconnect=True),
        Close(),
    ]
    void = signalr.decode_messages(signalr.completion("2"))[0]
    assert isinstance(void, Completion)
    assert void.result is msgspec.UNSET
    assert void.error is msgspec.UNSET


# --- our hub methods ----------------------------------------------------------------------------


def test_method_names() -> None:
    assert signalr.CLIENT_METHODS == ("SubscribeToSymbols", "UnsubscribeFromSymbols")
    assert signalr.SERVER_METHODS == (
        "PriceUpdate",
        "OrderBookUpdate",
        "TradeUpdate",
        "BalanceUpdate",
        "ConnectionStateChanged",
    )


@pytest.mark.parametrize(
    ("target", "method"),
    [
        ("SubscribeToSymbols", "SubscribeToSymbols"),
        ("subscribetosymbols", "SubscribeToSymbols"),
        ("UNSUBSCRIBEFROMSYMBOLS", "UnsubscribeFromSymbols"),
        ("Subscribe", None),
        ("PriceUpdate", None),  # server-to-client only
    ],
)
def test_resolve_client_method_ignores_case(target: str, method: str | None) -> None:
    assert signalr.resolve_client_method(target) == method


def test_symbols_argument_accepted() -> None:
    arguments: list[object] = [["BTC/USD", "ETH/USD"]]
    symbols = signalr.parse_symbols_argument(arguments)
    assert symbols == ["BTC/USD", "ETH/USD"]
    assert symbols is not arguments[0]
    assert signalr.parse_symbols_argument([[]]) == []


def test_symbols_argument_at_the_limits() -> None:
    longest = "X" * signalr.MAX_SYMBOL_LENGTH
    many = [f"S{i}" for i in range(signalr.MAX_SYMBOLS_PER_CALL)]
    assert signalr.parse_symbols_argument([[longest]]) == [longest]
    assert signalr.parse_symbols_argument([many]) == many


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ([], "Expected 1 argument (a list of symbols), got 0."),
        ([["BTC/USD"], ["ETH/USD"]], "Expected 1 argument (a list of symbols), got 2."),
        (["BTC/USD"], "The argument must be a list of symbols."),
        ([{"symbols": ["BTC/USD"]}], "The argument must be a list of symbols."),
        ([None], "The argument must be a list of symbols."),
        (
            [["BTC/USD", 5]],
            "Symbol at index 1 must be a non-empty string of at most 32 characters.",
        ),
        ([[""]], "Symbol at index 0 must be a non-empty string of at most 32 characters."),
        ([["X" * 33]], "Symbol at index 0 must be a non-empty string of at most 32 characters."),
        ([[["BTC/USD"]]], "Symbol at index 0 must be a non-empty string of at most 32 characters."),
        ([[f"S{i}" for i in range(101)]], "At most 100 symbols per call, got 101."),
    ],
)
def test_symbols_argument_rejected(arguments: list[object], error: str) -> None:
    assert signalr.parse_symbols_argument(arguments) == error


def test_subscribe_with_wrong_argument_types_gets_an_error_completion() -> None:
    # A common client mistake: the symbols passed as separate arguments instead of one list.
    frame = (
        b'{"type":1,"invocationId":"3","target":"SubscribeToSymbols","arguments":["BTC/USD"]}\x1e'
    )
    [message] = signalr.decode_messages(frame)
    assert isinstance(message, Invocation)
    assert signalr.resolve_client_method(message.target) == signalr.SUBSCRIBE_TO_SYMBOLS
    error = signalr.parse_symbols_argument(message.arguments)
    assert isinstance(error, str)
    assert message.invocation_id is not None
    assert signalr.completion(message.invocation_id, error=error) == (
        b'{"type":3,"invocationId":"3","error":"The argument must be a list of symbols."}\x1e'
    )


# --- robustness ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "target", "arguments", "invocationId", "error", "result"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
records = st.one_of(
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(
        lambda t, rest: json.dumps({"type": t, **rest}).encode(),
        st.integers(min_value=-1, max_value=10),
        st.dictionaries(st.sampled_from(["target", "arguments", "invocationId"]), json_values),
    ),
    st.binary(max_size=32),
    # Arbitrary bytes inside a well-formed message: invalid UTF-8 where a string is expected.
    st.builds(
        lambda raw: b'{"type":1,"target":"' + raw + b'","arguments":[]}',
        st.binary(min_size=1, max_size=8),
    ),
)
frames = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=512),
    st.builds(
        lambda rs, tail: RS.join(rs) + tail,
        st.lists(records, max_size=5),
        st.sampled_from([RS, b"", b"x"]),
    ),
)


def check_decoded(messages: list[signalr.HubMessage | ProtocolError]) -> None:
    for message in messages[:-1]:
        assert not isinstance(message, ProtocolError)
    for message in messages:
        assert isinstance(message, (*signalr.HubMessage.__args__, ProtocolError))


@settings(max_examples=400, deadline=None)
@given(frames)
def test_decode_messages_never_raises(frame: bytes | str) -> None:
    check_decoded(signalr.decode_messages(frame))


@settings(max_examples=200, deadline=None)
@given(frames)
def test_parse_handshake_never_raises(frame: bytes | str) -> None:
    result, rest = signalr.parse_handshake(frame)
    assert result.ok is (result.error is None)
    assert result.ok is (result.version is not None)
    assert isinstance(rest, bytes)
