"""The single-object Avro codec: round trips, fixed headers, clear errors for bad bytes."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import (
    HEADER_LEN,
    MAGIC,
    Codec,
    DecodeError,
    NotSingleObjectEncodedError,
    TruncatedPayloadError,
    UnknownFingerprintError,
    load_schema_files,
    micros,
    schema_fingerprint,
)
from schemas.models import RECORD_TYPES, PriceLevel, Trade, TradeSide
from tests.unit.schemas.examples import examples

CODEC = Codec()


@pytest.mark.parametrize("record", examples(), ids=lambda r: type(r).__name__)
def test_every_record_type_round_trips_exactly(record: object) -> None:
    data = CODEC.encode(record)  # type: ignore[arg-type]
    assert data[:2] == MAGIC
    assert data[2:HEADER_LEN] == CODEC.fingerprint(type(record).__name__)
    assert CODEC.decode(data) == record


def test_there_is_an_example_and_a_schema_for_every_model() -> None:
    assert {type(r) for r in examples()} == set(RECORD_TYPES)
    assert set(load_schema_files()) == {t.__name__ for t in RECORD_TYPES}


def test_the_null_schema_fingerprint_matches_the_avro_spec() -> None:
    # The Avro specification gives CRC-64-AVRO("null") = 0x63dd24e7cc258f8a; single-object
    # encoding carries it little-endian, which is the byte order fastavro's hex string shows.
    from fastavro.schema import fingerprint

    little_endian = bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO"))
    assert int.from_bytes(little_endian, "little") == 0x63DD24E7CC258F8A


GOLDEN_FINGERPRINTS = {
    "Alert": "6e91b7fd1f1597d7",
    "Balance": "f398197543bb3408",
    "BookUpdate": "e8a8b8780ceb16ae",
    "ConnectionStatus": "d26d5e0d465c1eac",
    "DeadLetter": "ac69df98b29a89cd",
    "IndicatorSet": "d5c47607d6bad16c",
    "OHLCV": "2f69480e165b302b",
    "OrderBook": "3885aa475c2c20b5",
    "Position": "913efa8b0a8dbd4d",
    "PriceTicker": "0555c6894153af16",
    "RawFrame": "0446d2556a4dd3d5",
    "RawFrames": "3c85422594b6fc35",
    "Subscription": "a34cd73fe1089011",
    "Trade": "a26617126b3e4c4a",
}


def test_fingerprints_are_pinned_so_a_schema_change_is_deliberate() -> None:
    # A changed fingerprint means a changed schema: update this table in the same commit, after
    # `marketdata schemas check` has proved the change compatible.
    assert {n: CODEC.fingerprint(n).hex() for n in CODEC.record_names} == GOLDEN_FINGERPRINTS


def test_golden_bytes_of_a_trade() -> None:
    trade = Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id="1",
        price=1.5,
        qty=2.0,
        side=TradeSide.BUY,
        exchange_ts=1,
        received_ts=2,
    )
    assert CODEC.encode(trade).hex() == (
        "c301a26617126b3e4c4a"  # marker + fingerprint
        "0c6b72616b656e"
        "0e4254432f555344"
        "0231"  # exchange, symbol, trade_id
        "000000000000f83f"
        "0000000000000040"
        "00"  # price 1.5, qty 2.0, side buy
        "00"
        "10"
        "10"
        "02"
        "04"
        "00"  # ord_type null, precisions 8 8, ts 1 2, seq 0
    )


def test_bad_headers_and_unknown_fingerprints_name_topic_partition_offset() -> None:
    good = CODEC.encode(examples()[1])
    with pytest.raises(NotSingleObjectEncodedError, match=r"md\.trades\.v1\[2\]@1234"):
        CODEC.decode(b"\x00\x01garbage!!", topic="md.trades.v1", partition=2, offset=1234)
    with pytest.raises(UnknownFingerprintError, match=r"unknown schema fingerprint 0x0{16}"):
        CODEC.decode(good[:2] + bytes(8) + good[10:], topic="md.trades.v1", offset=5)
    with pytest.raises(TruncatedPayloadError, match="truncated"):
        CODEC.decode(good[:-3], topic="md.trades.v1")
    with pytest.raises(TruncatedPayloadError, match="trailing"):
        CODEC.decode(good + b"\x00")


def test_decode_as_checks_the_record_type() -> None:
    data = CODEC.encode(examples()[0])
    with pytest.raises(DecodeError, match="expected Trade, got PriceTicker"):
        CODEC.decode_as(data, Trade, topic="md.trades.v1")


@settings(max_examples=300)
@given(st.sampled_from(examples()), st.data())
def test_any_damage_gives_a_decode_error_or_a_record_never_a_crash(
    record: object,
    data: st.DataObject,
) -> None:
    payload = bytearray(CODEC.encode(record))  # type: ignore[arg-type]
    action = data.draw(st.sampled_from(["truncate", "flip", "append"]))
    if action == "truncate":
        payload = payload[: data.draw(st.integers(0, len(payload) - 1))]
    elif action == "flip":
        index = data.draw(st.integers(0, len(payload) - 1))
        payload[index] ^= 1 << data.draw(st.integers(0, 7))
    else:
        payload += data.draw(st.binary(min_size=1, max_size=8))
    try:
        decoded = CODEC.decode(bytes(payload), topic="t")
    except DecodeError:
        return
    assert type(decoded) in RECORD_TYPES


@given(st.binary(max_size=64))
def test_random_bytes_never_crash_the_decoder(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        CODEC.decode(MAGIC + payload)


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=2**62),
    st.text(max_size=20),
    st.sampled_from(list(TradeSide)),
)
def test_trades_round_trip_for_any_values(
    price: float,
    qty: float,
    ts: int,
    trade_id: str,
    side: TradeSide,
) -> None:
    trade = Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id=trade_id,
        price=price,
        qty=qty,
        side=side,
        exchange_ts=ts,
        received_ts=ts,
        seq=ts,
    )
    assert CODEC.decode(CODEC.encode(trade)) == trade


def test_an_older_writer_schema_is_read_into_the_current_model() -> None:
    current = load_schema_files()["Trade"]
    older = json.loads(json.dumps(current))
    older["fields"] = [f for f in older["fields"] if f["name"] not in ("ord_type", "seq")]
    codec = Codec(extra_writers=[older])
    from fastavro import parse_schema, schemaless_writer

    buf = io.BytesIO()
    buf.write(MAGIC + schema_fingerprint(older))
    schemaless_writer(
        buf,
        parse_schema(older),
        {
            "exchange": "kraken",
            "symbol": "BTC/USD",
            "trade_id": "9",
            "price": 2.0,
            "qty": 1.0,
            "side": "sell",
            "price_precision": 1,
            "size_precision": 8,
            "exchange_ts": 10,
            "received_ts": 11,
        },
    )
    decoded = codec.decode(buf.getvalue())
    assert decoded == Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id="9",
        price=2.0,
        qty=1.0,
        side=TradeSide.SELL,
        exchange_ts=10,
        received_ts=11,
        price_precision=1,
        ord_type=None,
        seq=0,
    )


def test_micros_is_exact() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert micros(datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC)) == 1_764_000_000_123_456
    ahead = timezone(timedelta(hours=1))  # the same instant, an hour ahead on the clock
    assert micros(datetime(2025, 11, 24, 17, 0, 0, 123456, tzinfo=ahead)) == 1_764_000_000_123_456


def test_book_levels_keep_their_order() -> None:
    book = examples()[2]
    decoded = CODEC.decode(CODEC.encode(book))  # type: ignore[arg-type]
    assert decoded.bids == [PriceLevel(97_000.1, 0.25), PriceLevel(96_999.9, 1.5)]  # type: ignore[attr-defined]
