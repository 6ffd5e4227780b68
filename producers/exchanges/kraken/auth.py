"""Kraken REST authentication: API-Sign and strictly increasing nonces.

API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata))).
The secret is taken as an argument and never stored on an object that could be logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time


def api_sign(url_path: str, nonce: int | str, post_data: str, secret_b64: str) -> str:
    inner = hashlib.sha256((str(nonce) + post_data).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_b64), url_path.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class NonceSource:
    """Microsecond nonces that only ever increase, even if the wall clock steps back."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            now = time.time_ns() // 1_000
            self._last = max(now, self._last + 1)
            return self._last
