"""`producers.replay`: recorded Kraken frames through a fresh stream give the records the live
producer publishes, with what it saw on the way; replayed trades are checked against published
ones by trade id."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from marketdata.cli import main
from marketdata.cli.replay_cmd import parse_time
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from producers.replay import Frame, Published, replay, verify_trades
from schemas import topics
from schemas.models import BookUpdate, PriceTicker, Trade

FRAMES = Path(__file__).parents[2] / "contract" / "kraken" / "frames"
RECEIVED = 1_800_000_000_000_000


def recorded(name: str, at: int = 0) -> Frame:
    return Frame("public", (FRAMES / f"{name}.json").read_bytes(), RECEIVED + at)


def with_checksum(frame: Frame, checksum: int) -> Frame:
    doc = json.loads(frame.payload)
    doc["data"][0]["checksum"] = checksum
    return Frame(frame.connection, json.dumps(doc).encode(), frame.received_ts + 1)


def live_trades() -> list[Trade]:
    msg = m.decode_frame((FRAMES / "trade.json").read_bytes())
    assert isinstance(msg, m.KrakenTradeMsg)
    return parse.parse_trades(msg, RECEIVED + 2, lambda _s: parse.Precision(1, 8))


async def test_frames_become_the_records_the_producer_publishes_raw_copies_aside() -> None:
    frames = [
        recorded("instrument"),
        recorded("ticker", 1),
        recorded("trade", 2),
        recorded("book_snapshot", 3),
        Frame("public", b"{not json", RECEIVED + 4),
    ]
    records: list[Published] = []
    result = await replay(frames, book_depth=10, sink=records.append)
    assert result.frames == 5
    assert result.parse_errors == 1
    assert topics.RAW.name not in result.per_topic()
    assert sum(result.per_topic().values()) == len(records)
    by_type = {type(p.record) for p in records}
    assert {PriceTicker, Trade, BookUpdate} <= by_type
    trades = [p.record for p in records if isinstance(p.record, Trade)]
    assert trades == result.trades
    assert [msgspec.structs.replace(t, seq=0) for t in trades] == [
        msgspec.structs.replace(t, seq=0) for t in live_trades()
    ]
    for p in records:
        if isinstance(p.record, Trade | PriceTicker | BookUpdate):
            assert p.key == f"kraken:{p.record.symbol}"


async def test_a_book_that_fails_its_checksum_is_counted_and_its_resync_recorded() -> None:
    frames = [recorded("instrument"), recorded("book_snapshot", 1)]
    frames.append(with_checksum(recorded("book_update", 2), 7))
    records: list[Published] = []
    result = await replay(frames, book_depth=10, sink=records.append)
    assert result.checksum_mismatches == 1
    assert [symbol for symbol, _ in result.resyncs] == ["BTC/USD"]
    books = [p.record for p in records if isinstance(p.record, BookUpdate)]
    assert len(books) == 1  # the snapshot; nothing from the corrupt book


async def test_book_updates_before_the_first_snapshot_in_the_window_are_skipped_not_failed() -> (
    None
):
    frames = [recorded("instrument"), recorded("book_update", 1), recorded("book_snapshot", 2)]
    records: list[Published] = []
    result = await replay(frames, book_depth=10, sink=records.append)
    assert result.before_snapshot == 1
    assert result.checksum_mismatches == 0
    assert result.resyncs == []
    assert [type(p.record) for p in records] == [BookUpdate]  # the snapshot


def trade(trade_id: int, price: float = 100.0, received: int = RECEIVED, seq: int = 0) -> Trade:
    return msgspec.structs.replace(
        live_trades()[0], trade_id=str(trade_id), price=price, received_ts=received, seq=seq
    )


def test_replayed_trades_equal_to_the_published_ones_pass_whatever_their_sequence_numbers() -> None:
    check = verify_trades([trade(1, seq=5), trade(2, seq=6)], [trade(1, seq=90), trade(2, seq=91)])
    assert check.ok
    assert check.compared == 2


def test_a_trade_missing_different_or_unexplained_in_the_topic_is_reported() -> None:
    replayed = [trade(1), trade(2), trade(5)]
    later = RECEIVED + 10**9  # received after the window: another run's, not compared
    published = [trade(2, price=101.0), trade(3), trade(4, received=later), trade(5)]
    check = verify_trades(replayed, published, RECEIVED, RECEIVED + 1000)
    assert [t.trade_id for t in check.missing] == ["1"]
    assert [(a.price, b.price) for a, b in check.different] == [(100.0, 101.0)]
    assert [t.trade_id for t in check.unexplained] == ["3"]
    assert not check.ok


NOW = 1_800_000_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90_000_000),
        ("15m", NOW - 900_000_000),
        ("1.5h", NOW - 5_400_000_000),
        ("2d", NOW - 172_800_000_000),
        ("2027-01-15T08:00:00Z", 1_800_000_000_000_000),
        ("2027-01-15T09:00:00+01:00", 1_800_000_000_000_000),
    ],
)
def test_a_time_is_an_iso_8601_instant_or_an_age(text: str, expected: int) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("yesterday", "neither an ISO 8601 time"),
        ("15 minutes", "neither an ISO 8601 time"),
        ("-5m", "neither an ISO 8601 time"),
        ("2027-01-15T08:00:00", "has no time zone"),
    ],
)
def test_a_time_that_is_neither_says_what_is_accepted(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_time(text, NOW)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--since", "yesterday"], "neither an ISO 8601 time"),
        (["--since", "5m", "--until", "10m"], "--since must be before --until"),
        (["--book-depth", "0"], "--book-depth must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason_before_any_kafka(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", *argv, "--bootstrap", "127.0.0.1:1"]) == 2
    assert says in capsys.readouterr().err
