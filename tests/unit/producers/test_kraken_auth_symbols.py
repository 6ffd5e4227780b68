"""API-Sign against Kraken's published vectors; nonces; symbol mapping both ways."""

from __future__ import annotations

import itertools

import pytest

from producers.errors import ParseError
from producers.exchanges.kraken.auth import NonceSource, api_sign
from producers.exchanges.kraken.symbols import (
    SymbolMap,
    canonical_asset,
    rest_asset,
    rest_pair_altname,
)

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
NONCE = 1616492376594


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/0/private/AddOrder",
            "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
            "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==",
        ),
        (
            "/0/private/Balance",
            "nonce=1616492376594",
            "1nH4vwR+8FHiYh1QT649xXkGd3JR3x0DWkgv3u9Ed/Qqv6KPtgQpEU4m+Emb/VgpEji3j1XNwI+HCbfXxmrTOg==",
        ),
        (
            "/0/private/GetWebSocketsToken",
            "nonce=1616492376594",
            "+mRDmY9Ks0Moc1zjv/BjfvYa98buO0x1yHChZR5onlfAzAUbfIYlLggUZzdQ0RsmXm4Sh+Q8iAIZdo2wSeHeiA==",
        ),
        (
            "/0/private/BalanceEx",
            '{"nonce": "1616492376594"}',
            "umbviNq9EWGFaqdd32xZ6/3/SHB3hiPcRAAozkmbID2FpaMe0uxbc8LtG66LqfShL6nxZNEQuVYlZHPDSYz9rg==",
        ),
    ],
)
def test_published_api_sign_vectors(path: str, body: str, expected: str) -> None:
    assert api_sign(path, NONCE, body, SECRET) == expected


def test_nonces_strictly_increase() -> None:
    source = NonceSource()
    values = [source.next() for _ in range(10_000)]
    assert all(b > a for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("code", "canonical"),
    [
        ("XXBT", "BTC"),
        ("XBT", "BTC"),
        ("XXDG", "DOGE"),
        ("XDG", "DOGE"),
        ("ZUSD", "USD"),
        ("XETH", "ETH"),
        ("SOL", "SOL"),
        ("ETH2.S", "ETH2.S"),
        ("XXBT.M", "BTC.M"),
        ("USD.M", "USD.M"),
    ],
)
def test_canonical_assets(code: str, canonical: str) -> None:
    assert canonical_asset(code) == canonical


def test_rest_spellings() -> None:
    assert rest_asset("BTC") == "XBT"
    assert rest_asset("DOGE") == "XDG"
    assert rest_pair_altname("BTC/USD") == "XBTUSD"
    assert rest_pair_altname("SOL/USD") == "SOLUSD"


def test_symbol_map_from_asset_pairs() -> None:
    pairs = SymbolMap.from_asset_pairs(
        {
            "XXBTZUSD": {
                "altname": "XBTUSD",
                "wsname": "XBT/USD",
                "base": "XXBT",
                "quote": "ZUSD",
                "pair_decimals": 1,
                "lot_decimals": 8,
            },
            "SOLUSD": {
                "altname": "SOLUSD",
                "wsname": "SOL/USD",
                "base": "SOL",
                "quote": "ZUSD",
                "pair_decimals": 2,
                "lot_decimals": 8,
            },
        }
    )
    assert pairs.symbols == ["BTC/USD", "SOL/USD"]
    assert pairs.rest_id("BTC/USD") == "XXBTZUSD"
    assert pairs.symbol("XXBTZUSD") == "BTC/USD"
    assert pairs.symbol("XBTUSD") == "BTC/USD"
    info = pairs.info("SOL/USD")
    assert info is not None
    assert (info.price_precision, info.qty_precision) == (2, 8)
    with pytest.raises(ParseError, match="unknown symbol"):
        pairs.rest_id("NOPE/USD")


def test_a_bad_asset_pairs_row_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="bad row"):
        SymbolMap.from_asset_pairs({"X": {"altname": "X"}})
