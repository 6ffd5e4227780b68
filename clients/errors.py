"""One error hierarchy for the SDK, with one mapping from HTTP answers.

Each error says whether it is worth retrying (`retryable`, a class attribute, as aiokafka does),
so the retry policy in `http.py` reads it off the error instead of listing exception types.
`ServiceUnavailable` (and its `RequestTimeout`) are raised only after the retries are spent.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class ProblemItem(msgspec.Struct, frozen=True, kw_only=True):
    """One failed validation, as Litestar lists them in `extra`."""

    message: str = ""
    key: str = ""
    source: str = ""


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """The API's RFC 9457 problem+json body (every error answer has one)."""

    status: int = 0
    title: str = ""
    detail: str = ""
    parameter: str | None = None
    extra: list[ProblemItem] | dict[str, object] | None = None

    def explained(self) -> tuple[str, str | None]:
        """The detail and the parameter, taken from the validation items when the API's own
        detail is generic (`Bad Request` for a query parameter out of range)."""
        items = self.extra if isinstance(self.extra, list) else []
        if self.parameter or not items:
            return self.detail or self.title, self.parameter
        reasons = "; ".join(f"{i.source} parameter {i.key!r}: {i.message}" for i in items)
        return f"{self.detail or self.title}: {reasons}", items[0].key or None


class MarketDataError(Exception):
    """Base of every SDK error: the HTTP status (if any) and what the API said was wrong."""

    retryable: ClassVar[bool] = False
    kind: ClassVar[str] = "error"
    """A stable, machine-readable name (what the agent tools report)."""

    def __init__(self, detail: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.url = url

    def __str__(self) -> str:
        where = " ".join(p for p in (f"HTTP {self.status}" if self.status else "", self.url) if p)
        return f"{self.detail} ({where})" if where else self.detail


class ServiceUnavailable(MarketDataError):
    """5xx, the API warming up, or nothing answering at the address."""

    retryable = True
    kind = "service_unavailable"

    def __init__(
        self, detail: str, *, status: int | None = None, url: str = "", retry_after: float | None
    ) -> None:
        super().__init__(detail, status=status, url=url)
        self.retry_after = retry_after


class RequestTimeout(ServiceUnavailable):
    """The API did not answer (connect or read) within the client's timeout."""

    kind = "timeout"


class BadRequest(MarketDataError):
    """400/422: a malformed symbol, parameter or body; `parameter` names it when the API did."""

    kind = "bad_request"

    def __init__(
        self, detail: str, *, status: int | None = None, url: str = "", parameter: str | None
    ) -> None:
        super().__init__(detail, status=status, url=url)
        self.parameter = parameter


class NotFound(MarketDataError):
    """404: an unknown symbol or timeframe, or no data for it yet (`detail` says which)."""

    kind = "unknown_symbol"


class Unauthorized(MarketDataError):
    """401/403: the endpoint needs an API key (`Authorization: Bearer <key>`)."""

    kind = "unauthorized"


class RateLimited(MarketDataError):
    """429: over the API's per-client rate limit. Not retried: the window is a minute long."""

    kind = "rate_limited"

    def __init__(
        self, detail: str, *, status: int | None = None, url: str = "", retry_after: float | None
    ) -> None:
        super().__init__(detail, status=status, url=url)
        self.retry_after = retry_after


class UnexpectedAnswer(MarketDataError):
    """An answer the SDK cannot read (not the documented shape, or an unmapped status)."""

    kind = "unexpected_answer"


def retry_after(header: str | None) -> float | None:
    """`Retry-After` in seconds (the API sends delta-seconds only)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def from_answer(status: int, body: bytes, url: str, retry_header: str | None) -> MarketDataError:
    """The error for a non-2xx answer, with the problem's `detail` when the body has one."""
    try:
        problem = msgspec.json.decode(body, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        problem = Problem(status=status, detail=body[:200].decode(errors="replace"))
    detail, parameter = problem.explained()
    detail = detail or f"HTTP {status}"
    if status in (400, 422):
        return BadRequest(detail, status=status, url=url, parameter=parameter)
    if status == 404:
        return NotFound(detail, status=status, url=url)
    if status in (401, 403):
        return Unauthorized(detail, status=status, url=url)
    if status == 429:
        return RateLimited(detail, status=status, url=url, retry_after=retry_after(retry_header))
    if status >= 500:
        wait = retry_after(retry_header)
        return ServiceUnavailable(detail, status=status, url=url, retry_after=wait)
    return UnexpectedAnswer(detail, status=status, url=url)
