"""Recorded Kraken v2 frames (Kraken's own documented examples) → unified models, by content."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.errors import ParseError
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from schemas.models import CandleSource, PriceLevel, TradeSide

FRAMES = Path(__file__).with_name("frames")
RECEIVED = 1_800_000_000_000_000


def frame(name: str) -> m.KrakenFrame:
    return m.decode_frame((FRAMES / f"{name}.json").read_bytes())


def precision(_symbol: str) -> parse.Precision:
    return parse.Precision(1, 8)


def test_ticker() -> None:
    msg = frame("ticker")
    assert isinstance(msg, m.KrakenTickerMsg)
    (t,) = parse.parse_ticker(msg, RECEIVED, precision)
    assert (t.exchange, t.symbol, t.bid, t.ask, t.last) == (
        "kraken",
        "ALGO/USD",
        0.10025,
        0.10036,
        0.10035,
    )
    assert (t.volume_24h, t.vwap_24h, t.high_24h, t.low_24h) == (
        997038.98383185,
        0.10148,
        0.10285,
        0.09979,
    )
    assert (t.change_24h, t.change_pct_24h) == (-0.00017, -0.17)
    assert t.exchange_ts == 1_695_632_671_742_648
    assert t.received_ts == RECEIVED


def test_trade() -> None:
    msg = frame("trade")
    assert isinstance(msg, m.KrakenTradeMsg)
    (t,) = parse.parse_trades(msg, RECEIVED, precision)
    assert (t.symbol, t.trade_id, t.price, t.qty, t.side, t.ord_type) == (
        "BTC/USD",
        "109116693",
        83744.3,
        0.0004478,
        TradeSide.BUY,
        "limit",
    )
    assert t.exchange_ts == 1_790_358_506_844_359


def test_ohlc_keys_candles_by_interval_begin() -> None:
    msg = frame("ohlc")
    assert isinstance(msg, m.KrakenOhlcMsg)
    (c,) = parse.parse_ohlc(msg, RECEIVED, precision)
    assert (c.timeframe, c.open, c.high, c.low, c.close, c.trades) == (
        "1m",
        83729.5,
        83745.2,
        83729.4,
        83744.3,
        33,
    )
    assert c.open_ts == 1_790_358_480_000_000
    assert c.source is CandleSource.EXCHANGE
    assert not c.closed


def test_instrument_gives_precisions_and_ignores_unknown_fields() -> None:
    msg = frame("instrument")
    assert isinstance(msg, m.KrakenInstrumentMsg)
    assert parse.parse_instrument(msg) == {"BTC/USD": parse.Precision(1, 8)}


def test_book_snapshot_and_update() -> None:
    snap = frame("book_snapshot")
    assert isinstance(snap, m.KrakenBookMsg)
    assert snap.type == "snapshot"
    item = snap.data[0]
    assert item.checksum == 3310070434
    assert item.bids[0] == PriceLevel(45283.5, 0.1)
    update = parse.book_update(
        "BTC/USD",
        True,
        item.bids,
        item.asks,
        item.checksum,
        10,
        parse.rfc3339_micros(item.timestamp or ""),
        RECEIVED,
        parse.Precision(1, 8),
    )
    assert update.is_snapshot
    assert len(update.bids) == 10
    assert update.price_precision == 1


def test_balances_update_uses_canonical_assets() -> None:
    msg = frame("balances_update")
    assert isinstance(msg, m.KrakenBalancesMsg)
    (b,) = parse.parse_balances(msg, RECEIVED)
    assert (b.asset, b.total) == ("BTC", 0.02)
    assert b.exchange_ts == 1_695_378_222_925_034


def test_status_pong_and_error_acks() -> None:
    status = frame("status")
    assert isinstance(status, m.KrakenStatusMsg)
    assert status.data[0].connection_id == 13834774380200032777  # above 2**63
    assert isinstance(frame("pong"), m.KrakenPongMsg)
    ack = frame("subscribe_error")
    assert isinstance(ack, m.KrakenAckMsg)
    assert not ack.success
    assert ack.error == "Currency pair not supported XBT/USD"


def test_frames_in_another_key_order_decode_the_same() -> None:
    reordered = b'{"type":"update","data":[],"channel":"book"}'
    msg = m.decode_frame(reordered)
    assert isinstance(msg, m.KrakenBookMsg)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"channel":"book","type":"update","data":[{"symbol":"X"',
        b'{"channel":"nope"}',
        b'{"channel":"trade","type":"update","data":[{"symbol":"A","price":"x"}]}',
        b"{}",
        b'{"method":"dance"}',
        b"\xff\xfe",
        b"x" * 5_000_000,
    ],
)
def test_bad_frames_are_parse_errors(payload: bytes) -> None:
    with pytest.raises(ParseError) as info:
        m.decode_frame(payload)
    assert info.value.exchange == "kraken"
    assert len(info.value.excerpt) <= 201


def test_a_broken_stream_frame_names_its_channel() -> None:
    with pytest.raises(ParseError) as info:
        m.decode_frame(b'{"channel":"book","type":"update","data":[{"bids":[]}]}')
    assert (info.value.channel, info.value.reason) == (
        "book",
        "Object missing required field `symbol` - at `$.data[0]`",
    )


def test_book_levels_decode_straight_into_the_unified_level() -> None:
    msg = m.decode_frame(
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,'
        '"qty":0.25}],"asks":[{"price":45285.2,"qty":0}],"checksum":7,"timestamp":"2023-10-06T17:35:55.540295Z"}]}'
    )
    assert isinstance(msg, m.KrakenBookMsg)
    (item,) = msg.data
    assert (item.bids, item.asks) == ([PriceLevel(45283.5, 0.25)], [PriceLevel(45285.2, 0.0)])


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_parse_error(payload: bytes) -> None:
    with contextlib.suppress(ParseError):
        m.decode_frame(payload)


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)), st.integers(0, 9)
)
def test_rfc3339_micros_matches_datetime(moment: datetime, digits: int) -> None:
    moment = moment.replace(tzinfo=UTC)
    fraction = f"{moment.microsecond:06d}000"[:digits]
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"
    expected = int(moment.replace(microsecond=0).timestamp()) * 1_000_000
    expected += int((fraction + "000000")[:6]) if digits else 0
    assert parse.rfc3339_micros(text) == expected


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2023-10-06T17:35:55.440295Z", 1_696_613_755_440_295),
        ("2023-10-06T17:35:55.440295+00:00", 1_696_613_755_440_295),
        ("2023-10-06T17:35:55.4402951Z", 1_696_613_755_440_295),
        ("2023-10-06T17:35:55Z", 1_696_613_755_000_000),
        ("2023-10-06 17:35:55.4Z", 1_696_613_755_400_000),
    ],
)
def test_rfc3339_layouts(text: str, micros: int) -> None:
    assert parse.rfc3339_micros(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2023/10/06T17:35:55.440295Z",
        "2023-10-06T17:35:5x.440295Z",
        "2023-10-06T17:35:55.44029xZ",
        "2023-10-06T17:35:55.-44029Z",
        "2023-10-06T17:35:55.Z",
    ],
)
def test_malformed_timestamps_are_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse.rfc3339_micros(text)


def test_rest_ohlc_marks_only_the_last_row_as_forming() -> None:
    rows = [
        [1688671200, "30306.1", "30306.2", "30305.7", "30305.7", "30306.1", "3.39243896", 23],
        [1688671260, "30304.5", "30304.5", "30300.0", "30300.0", "30300.0", "4.42996871", 18],
    ]
    first, last = parse.parse_rest_ohlc(
        rows, "BTC/USD", 1, 1688671200, RECEIVED, parse.Precision(1, 8)
    )
    assert first.closed
    assert not last.closed
    assert (first.open_ts, first.volume, first.trades) == (1_688_671_200_000_000, 3.39243896, 23)
    with pytest.raises(ParseError):
        parse.parse_rest_ohlc([[1, "x"]], "BTC/USD", 1, 0, RECEIVED, parse.Precision(1, 8))


def test_rest_balance_maps_legacy_codes() -> None:
    balances = parse.parse_rest_balance(
        {"ZUSD": "171288.6158", "XXBT": "1011.19", "ETH2.S": "198.39"}, RECEIVED
    )
    assert {b.asset: b.total for b in balances} == {
        "USD": 171288.6158,
        "BTC": 1011.19,
        "ETH2.S": 198.39,
    }
