"""Frame encoding: Kraken's field names, order and omissions; numbers and times."""

from __future__ import annotations

import pytest

from simulator.exchanges.kraken.frames import (
    KrakenAck,
    KrakenAckResult,
    KrakenErrorAck,
    KrakenPong,
    decimal,
    encode,
    rfc3339,
)

TS = 1_696_613_755_440_295_123  # 2023-10-06T17:35:55.440295123Z


def test_rfc3339_with_micro_and_nanoseconds() -> None:
    assert rfc3339(TS) == "2023-10-06T17:35:55.440295Z"
    assert rfc3339(TS, 9) == "2023-10-06T17:35:55.440295123Z"
    assert rfc3339(1_696_613_760_000_000_000) == "2023-10-06T17:36:00.000000Z"


@pytest.mark.parametrize(
    ("units", "precision", "text"),
    [
        (452852, 1, "45285.2"),
        (100_000, 8, "0.001"),
        (154_582_015, 8, "1.54582015"),
        (1, 8, "1e-08"),
    ],
)
def test_decimals_are_the_exact_json_number(units: int, precision: int, text: str) -> None:
    assert repr(decimal(units, precision)) == text


def test_ack_field_order_and_omitted_fields() -> None:
    ack = KrakenAck(
        method="subscribe",
        result=KrakenAckResult(channel="book", depth=10, snapshot=True, symbol="BTC/USD"),
        success=True,
        time_in="a",
        time_out="b",
        req_id=7,
    )
    assert encode(ack) == (
        '{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,'
        '"symbol":"BTC/USD"},"success":true,"time_in":"a","time_out":"b","req_id":7}'
    )


def test_error_ack_keeps_success_false_and_drops_absent_fields() -> None:
    error = KrakenErrorAck(
        error="Currency pair not supported XBT/USD",
        method="subscribe",
        success=False,
        symbol="XBT/USD",
        time_in="a",
        time_out="b",
    )
    assert encode(error) == (
        '{"error":"Currency pair not supported XBT/USD","method":"subscribe","success":false,'
        '"symbol":"XBT/USD","time_in":"a","time_out":"b"}'
    )


def test_pong() -> None:
    assert encode(KrakenPong(method="pong", req_id=101, time_in="a", time_out="b")) == (
        '{"method":"pong","req_id":101,"time_in":"a","time_out":"b"}'
    )
    assert encode(KrakenPong(method="pong", time_in="a", time_out="b")) == (
        '{"method":"pong","time_in":"a","time_out":"b"}'
    )
