"""The Python SDK of the market-data query API, for the execution engine and agents.

- `MarketDataClient` (`clients.http`): REST with timeouts, retries and a TTL cache.
- `MarketDataStream` (`clients.stream`): the `/ws` relay with reconnect and resubscribe.
- Agent tools (`clients.tools`): `current_position`, `technical_indicators` and `TOOLS`.

Depends only on `schemas` and third-party libraries, never on the API's own code.
"""

from clients.cache import NO_CACHE, CacheTtls
from clients.errors import (
    BadRequest,
    MarketDataError,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    UnexpectedAnswer,
)
from clients.http import MarketDataClient
from clients.stream import ConnectionChanged, MarketDataStream, MarketUpdate, ServerNotice, Topic

__all__ = [
    "NO_CACHE",
    "BadRequest",
    "CacheTtls",
    "ConnectionChanged",
    "MarketDataClient",
    "MarketDataError",
    "MarketDataStream",
    "MarketUpdate",
    "NotFound",
    "RateLimited",
    "RequestTimeout",
    "ServerNotice",
    "ServiceUnavailable",
    "Topic",
    "Unauthorized",
    "UnexpectedAnswer",
]
