"""One error hierarchy for the producers: each error says whether retrying can help.

Retry decisions live on the error (`retryable`), not in scattered `except` lists: the connection
manager backs off and reconnects on retryable errors and gives up loudly on fatal ones.
"""

from __future__ import annotations

from typing import ClassVar, Final

_EXCERPT: Final = 200


class MarketDataError(Exception):
    retryable: ClassVar[bool] = False


class ParseError(MarketDataError):
    """A frame that cannot be understood: counted, logged and skipped, never retried."""

    retryable = False

    def __init__(self, exchange: str, channel: str, reason: str, raw: bytes | str = b"") -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self.exchange = exchange
        self.channel = channel
        self.reason = reason
        self.excerpt = text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")
        super().__init__(f"{exchange} {channel}: {reason}: {self.excerpt!r}")


class ChecksumMismatch(MarketDataError):
    """The local book disagrees with the exchange's checksum: resync that symbol only."""

    retryable = False

    def __init__(self, symbol: str, expected: int, got: int) -> None:
        self.symbol = symbol
        self.expected = expected
        self.got = got
        super().__init__(f"{symbol}: book checksum {got} != exchange's {expected}")


class ConnectionLost(MarketDataError):
    retryable = True


class RateLimited(MarketDataError):
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class CircuitOpen(MarketDataError):
    retryable = True


# Kraken error strings that retrying after a pause can fix; everything else is fatal for the call.
_RETRYABLE_PREFIXES: Final = (
    "EAPI:Rate limit exceeded",
    "EService:Unavailable",
    "EService:Busy",
    "EService: Throttled",
    "EService:Deadline elapsed",
    "EGeneral:Internal error",
    "EGeneral:Temporary lockout",
    "EAPI:Invalid nonce",  # a clock or concurrency hiccup: a fresh nonce fixes it
)


class ExchangeError(MarketDataError):
    """An error answer from the exchange (Kraken's `error` array, or an HTTP failure)."""

    def __init__(self, exchange: str, errors: list[str], status: int | None = None) -> None:
        self.exchange = exchange
        self.errors = errors
        self.status = status
        super().__init__(
            f"{exchange}: {', '.join(errors) or 'unknown error'}"
            + (f" (HTTP {status})" if status else "")
        )

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        if self.status is not None and (self.status == 429 or self.status >= 500):
            return True
        return any(e.startswith(_RETRYABLE_PREFIXES) for e in self.errors)

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or any("Rate limit" in e or "Throttled" in e for e in self.errors)
