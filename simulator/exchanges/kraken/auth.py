"""Kraken's private-API gatekeeping: API key, API-Sign, nonce, call counter and WS tokens.

The signature is recomputed with the code base's one implementation of Kraken's API-Sign
(`producers.exchanges.kraken.auth.api_sign`, tested against Kraken's published vector) over the
exact body bytes received, and compared in constant time. Checks run in Kraken's order, each
answering Kraken's error string: key, signature, nonce (strictly increasing per key), then the
call counter (KRL: +1 per call, continuous decay, `EAPI:Rate limit exceeded` past the tier max;
calls made while limited still count, which extends the penalty).
"""

from __future__ import annotations

import hmac
import secrets

from producers.exchanges.kraken.auth import api_sign
from simulator.clock import NS_PER_S
from simulator.config import RateTier

INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
RATE_LIMITED = "EAPI:Rate limit exceeded"

TIERS: dict[RateTier, tuple[float, float]] = {
    "starter": (15.0, 0.33),
    "intermediate": (20.0, 0.5),
    "pro": (20.0, 1.0),
}
"""Call-counter maximum and decay per second, per verification tier (KRL)."""


class CallCounter:
    """One key's REST call counter."""

    def __init__(self, maximum: float, decay_per_s: float) -> None:
        self.maximum = maximum
        self.decay_per_s = decay_per_s
        self._value = 0.0
        self._at_ns = 0

    def value(self, now_ns: int) -> float:
        elapsed = max(0, now_ns - self._at_ns) / NS_PER_S
        return max(0.0, self._value - self.decay_per_s * elapsed)

    def hit(self, now_ns: int, cost: float = 1.0) -> bool:
        """Count one call; False when it exceeds the maximum (the call is still counted)."""
        current = self.value(now_ns)
        allowed = current + cost <= self.maximum
        self._value, self._at_ns = current + cost, now_ns
        return allowed


class TokenStore:
    """WebSocket tokens from GetWebSocketsToken: usable for `ttl` seconds, and for as long as a
    private subscription made with them lives."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_ns = round(ttl_seconds * NS_PER_S)
        self._expires: dict[str, int] = {}
        self._in_use: dict[str, int] = {}

    def issue(self, now_ns: int) -> str:
        self._expires = {t: e for t, e in self._expires.items() if e > now_ns or t in self._in_use}
        token = secrets.token_urlsafe(32)
        self._expires[token] = now_ns + self.ttl_ns
        return token

    def valid(self, token: str, now_ns: int) -> bool:
        expires = self._expires.get(token)
        return expires is not None and (now_ns < expires or token in self._in_use)

    def hold(self, token: str) -> None:
        self._in_use[token] = self._in_use.get(token, 0) + 1

    def release(self, token: str) -> None:
        left = self._in_use.get(token, 0) - 1
        if left > 0:
            self._in_use[token] = left
        else:
            self._in_use.pop(token, None)

    def expire_all(self) -> None:
        """Invalidate every token not held by a live subscription (tests of expiry)."""
        self._expires = dict.fromkeys(self._expires, 0)


class PrivateAuth:
    """Verifies private REST calls for the one configured key."""

    def __init__(self, api_key: str, api_secret: str, tier: RateTier) -> None:
        self._key = api_key
        self._secret = api_secret
        self._last_nonce: int | None = None
        self.counter = CallCounter(*TIERS[tier])
        self.rejected: dict[str, int] = {}

    def check(
        self,
        *,
        path: str,
        api_key: str | None,
        api_sign_header: str | None,
        body: str,
        nonce: str | None,
        now_ns: int,
    ) -> str | None:
        """Kraken's error string for this call, or None when it may proceed."""
        error = self._check(
            path=path,
            api_key=api_key,
            api_sign_header=api_sign_header,
            body=body,
            nonce=nonce,
            now_ns=now_ns,
        )
        if error is not None:
            self.rejected[error] = self.rejected.get(error, 0) + 1
        return error

    def _check(
        self,
        *,
        path: str,
        api_key: str | None,
        api_sign_header: str | None,
        body: str,
        nonce: str | None,
        now_ns: int,
    ) -> str | None:
        if not api_key or not hmac.compare_digest(api_key.encode(), self._key.encode()):
            return INVALID_KEY
        if nonce is None or not nonce.strip().isdigit():
            return INVALID_NONCE
        expected = api_sign(path, nonce.strip(), body, self._secret)
        if not api_sign_header or not hmac.compare_digest(
            api_sign_header.strip().encode(), expected.encode()
        ):
            return INVALID_SIGNATURE
        value = int(nonce)
        if self._last_nonce is not None and value <= self._last_nonce:
            return INVALID_NONCE
        self._last_nonce = value
        if not self.counter.hit(now_ns):
            return RATE_LIMITED
        return None
