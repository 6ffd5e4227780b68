"""API keys: when `signalr.enableAuthentication` is on, `/ws`, the hub and changes to subscriptions
need one of `service.apiKeys`.

A key is accepted from `Authorization: Bearer <key>`, `X-API-Key: <key>`, or (for browsers,
which cannot set WebSocket headers) the `access_token` query parameter. Comparison is constant
time and keys are never logged.
"""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection

from marketdata.config import Settings


def presented_key(connection: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if key := connection.headers.get("x-api-key"):
        return key.strip()
    token = connection.query_params.get("access_token")
    return token if isinstance(token, str) and token else None


def required(settings: Settings) -> bool:
    return settings.signalr.enable_authentication


def authorized(settings: Settings, connection: ASGIConnection) -> bool:  # type: ignore[type-arg]
    """True when authentication is off, or the connection presents a configured key."""
    if not required(settings):
        return True
    presented = presented_key(connection)
    if not presented:
        return False
    given = presented.encode()
    matches = [
        hmac.compare_digest(given, key.get_secret_value().encode())
        for key in settings.service.api_keys
    ]
    return any(matches)
