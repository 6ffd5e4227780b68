"""How far back the API reads md.book.v1: twice the longest `bookSnapshotMs` of the enabled
venues, so every changing book's last snapshot is inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketdata.cli.api_cmd import book_lookback_ms
from marketdata.config import load_config


def lookback(tmp_path: Path, exchanges: str) -> int:
    path = tmp_path / "config.yaml"
    path.write_text(f"marketData:\n  exchanges:\n{exchanges}")
    return book_lookback_ms(load_config(path, {}))


@pytest.mark.parametrize(
    ("exchanges", "expected"),
    [
        ("    kraken: {}\n", 60_000),  # the default 30 s
        ("    kraken: {bookSnapshotMs: 5000}\n", 10_000),
        ("    kraken: {bookSnapshotMs: 5000}\n    binance: {bookSnapshotMs: 20000}\n", 40_000),
        # a venue without them is served by the book table; the other's still count
        ("    kraken: {bookSnapshotMs: 0}\n    binance: {bookSnapshotMs: 20000}\n", 40_000),
        ("    kraken: {bookSnapshotMs: 0}\n", 0),  # none: md.book.v1 is not read at all
        ("    kraken: {enabled: false}\n", 0),
    ],
)
def test_twice_the_longest_snapshot_interval(tmp_path: Path, exchanges: str, expected: int) -> None:
    assert lookback(tmp_path, exchanges) == expected
