"""Decoding and validating Kraken WS v2 requests into per-symbol subscriptions or errors."""

from __future__ import annotations

import json

import pytest

from simulator.exchanges.kraken import requests as rq
from simulator.exchanges.kraken.requests import Ping, RequestError, Subscription, parse_request

SYMBOLS = frozenset({"BTC/USD", "ETH/USD"})


def parse(message: object, *, private: bool = False) -> rq.Request:
    text = message if isinstance(message, str) else json.dumps(message)
    return parse_request(text, private=private, symbols=SYMBOLS)


def sub(channel: str, **params: object) -> dict[str, object]:
    return {"method": "subscribe", "params": {"channel": channel, **params}, "req_id": 9}


def test_ping() -> None:
    assert parse({"method": "ping", "req_id": 101}) == Ping(101)
    assert parse({"method": "ping"}) == Ping(None)


def test_one_subscription_per_symbol_and_an_error_for_unknown_pairs() -> None:
    result = parse(sub("book", symbol=["BTC/USD", "XBT/USD", "ETH/USD"], depth=25))
    assert isinstance(result, list)
    ok = [r for r in result if isinstance(r, Subscription)]
    errors = [r for r in result if isinstance(r, RequestError)]
    assert [(s.symbol, s.depth, s.req_id) for s in ok] == [("BTC/USD", 25, 9), ("ETH/USD", 25, 9)]
    assert errors == [
        RequestError(
            error="Currency pair not supported XBT/USD",
            method="subscribe",
            req_id=9,
            symbol="XBT/USD",
        )
    ]


def test_defaults() -> None:
    [book] = parse(sub("book", symbol=["BTC/USD"]))  # type: ignore[misc]
    [ticker] = parse(sub("ticker", symbol=["BTC/USD"]))  # type: ignore[misc]
    [ohlc] = parse(sub("ohlc", symbol=["BTC/USD"]))  # type: ignore[misc]
    assert isinstance(book, Subscription)
    assert (book.depth, book.snapshot) == (10, True)
    assert isinstance(ticker, Subscription)
    assert ticker.event_trigger == "trades"
    assert isinstance(ohlc, Subscription)
    assert ohlc.interval == 1
    assert ohlc.key == ("ohlc", "BTC/USD", "1")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("{not json", rq.MALFORMED),
        ({"method": "dance"}, rq.METHOD_NOT_FOUND),
        ({"method": "subscribe"}, rq.INVALID_ARGUMENTS),
        (sub("book", symbol="BTC/USD"), rq.SYMBOL_NOT_ARRAY),
        (sub("book"), rq.INVALID_ARGUMENTS),
        (sub("book", symbol=["BTC/USD"], depth=42), rq.BAD_DEPTH),
        (sub("ohlc", symbol=["BTC/USD"], interval=2), rq.BAD_INTERVAL),
        (sub("ticker", symbol=["BTC/USD"], event_trigger="sometimes"), rq.INVALID_ARGUMENTS),
        (sub("book", symbol=["BTC/USD"], snapshot="yes"), rq.INVALID_ARGUMENTS),
        (sub("spread", symbol=["BTC/USD"]), "Channel spread not supported"),
        (sub("executions"), rq.PRIVATE_ON_PUBLIC),
        (sub("balances"), rq.PRIVATE_ON_PUBLIC),
    ],
)
def test_refusals_carry_krakens_text(message: object, error: str) -> None:
    result = parse(message)
    assert isinstance(result, RequestError)
    assert result.error == error


def test_private_endpoint_rules() -> None:
    assert parse(sub("ticker", symbol=["BTC/USD"]), private=True) == RequestError(
        error=rq.PUBLIC_ON_PRIVATE, method="subscribe", req_id=9
    )
    missing = parse(sub("balances"), private=True)
    assert missing == RequestError(
        error=rq.INVALID_SESSION, method="subscribe", req_id=9, channel="balances", session=True
    )
    [balances] = parse(sub("balances", token="abc", snapshot=False), private=True)  # type: ignore[misc]
    assert isinstance(balances, Subscription)
    assert (balances.token, balances.snapshot, balances.symbol) == ("abc", False, None)
