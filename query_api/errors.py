"""One error shape for the whole API: RFC 9457 problem+json, with a message that says what was
wrong. Handlers raise these; Litestar's own validation errors (a bad query parameter) are mapped
to the same shape by the problem-details plugin."""

from __future__ import annotations

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
