"""Private REST gatekeeping: key, API-Sign, nonce, call counter and WebSocket tokens."""

from __future__ import annotations

import json

import pytest

from producers.exchanges.kraken.auth import api_sign
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET
from simulator.exchanges.kraken.auth import (
    INVALID_KEY,
    INVALID_NONCE,
    INVALID_SIGNATURE,
    RATE_LIMITED,
    CallCounter,
    PrivateAuth,
    TokenStore,
)

S = 1_000_000_000
PATH = "/0/private/Balance"


def call(
    auth: PrivateAuth,
    nonce: int,
    *,
    key: str = DEFAULT_API_KEY,
    sign: str | None = None,
    body: str | None = None,
    now: int = 0,
) -> str | None:
    body = f"nonce={nonce}" if body is None else body
    signature = api_sign(PATH, nonce, body, DEFAULT_API_SECRET) if sign is None else sign
    return auth.check(
        path=PATH, api_key=key, api_sign_header=signature, body=body, nonce=str(nonce), now_ns=now
    )


@pytest.fixture
def auth() -> PrivateAuth:
    return PrivateAuth(DEFAULT_API_KEY, DEFAULT_API_SECRET, "intermediate")


def test_a_correctly_signed_call_passes(auth: PrivateAuth) -> None:
    assert call(auth, 1) is None
    assert call(auth, 2) is None


def test_json_bodies_are_signed_over_their_exact_text(auth: PrivateAuth) -> None:
    body = json.dumps({"nonce": "1616492376594"})
    assert call(auth, 1616492376594, body=body) is None


def test_kraken_errors_in_kraken_order(auth: PrivateAuth) -> None:
    assert call(auth, 5, key="someone-else") == INVALID_KEY
    assert call(auth, 5, sign="AAAA") == INVALID_SIGNATURE
    signed_for_other_body = api_sign(PATH, 5, "nonce=5&asset=XBT", DEFAULT_API_SECRET)
    assert call(auth, 5, sign=signed_for_other_body) == INVALID_SIGNATURE
    assert call(auth, 5) is None
    assert call(auth, 5) == INVALID_NONCE, "a reused nonce is refused"
    assert call(auth, 4) == INVALID_NONCE, "so is a smaller one"
    assert (
        auth.check(
            path=PATH, api_key=DEFAULT_API_KEY, api_sign_header="x", body="", nonce=None, now_ns=0
        )
        == INVALID_NONCE
    )
    assert auth.rejected[INVALID_NONCE] == 3


def test_the_call_counter_limits_and_decays(auth: PrivateAuth) -> None:
    results = [call(auth, n) for n in range(1, 22)]
    assert results[:20] == [None] * 20
    assert results[20] == RATE_LIMITED
    # Limited calls still count (21 + 1 = 22): at -0.5/s it takes 6 s to get back under 20.
    assert call(auth, 30, now=3 * S) == RATE_LIMITED
    assert call(auth, 31, now=9 * S) is None


def test_counter_tiers() -> None:
    counter = CallCounter(15.0, 0.33)
    assert all(counter.hit(0) for _ in range(15))
    assert not counter.hit(0)
    assert counter.value(10 * S) == pytest.approx(16 - 3.3)


def test_tokens_expire_unless_a_subscription_holds_them() -> None:
    tokens = TokenStore(ttl_seconds=900)
    token = tokens.issue(0)
    assert len(token) >= 40
    assert tokens.valid(token, 899 * S)
    assert not tokens.valid(token, 900 * S)
    tokens.hold(token)
    assert tokens.valid(token, 5_000 * S)
    tokens.release(token)
    assert not tokens.valid(token, 5_000 * S)
    assert not tokens.valid("made-up", 0)
    other = tokens.issue(0)
    tokens.expire_all()
    assert not tokens.valid(other, 1)
