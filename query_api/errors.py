"""One error shape for the whole API: RFC 9457 problem+json, with a message that says what was
wrong. Handlers raise these; Litestar's own validation errors (a bad query parameter) are mapped
to the same shape by the problem-details plugin."""

from __future__ import annotations

from typing import Final

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsException


def bad_request(detail: str, *, parameter: str | None = None) -> ProblemDetailsException:
    extra = {"parameter": parameter} if parameter else None
    return ProblemDetailsException(status_code=400, title="Bad request", detail=detail, extra=extra)


def not_found(detail: str) -> ProblemDetailsException:
    return ProblemDetailsException(status_code=404, title="Not found", detail=detail)


def unavailable(detail: str, retry_after: int = 1) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=503,
        title="Service unavailable",
        detail=detail,
        headers={"Retry-After": str(retry_after)},
    )


def unauthorized(detail: str) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=401,
        title="Unauthorized",
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="marketdata"'},
    )


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9457 problem details, as every error of this API is answered."""

    status: int
    title: str
    detail: str
    parameter: str | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        Problem,
        description=description,
        media_type="application/problem+json",
        generate_examples=False,
    )


PROBLEMS: Final[dict[int, ResponseSpec]] = {
    400: _spec("A parameter or the body is malformed; `detail` says which and why"),
    401: _spec("An API key is required"),
    404: _spec("Unknown symbol, timeframe, or no data yet"),
    429: _spec("Too many requests from this client"),
    503: _spec("Warming up: the read model has not caught up with Kafka yet"),
}
"""The error answers every endpoint documents in OpenAPI."""
