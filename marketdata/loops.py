"""The event loop our own asyncio processes run on: uvloop where it is installed.

uvloop (libuv) runs the same asyncio programs with cheaper I/O callbacks and timers. On the
2-core benchmark machine it took the API's and the producer's CPU down by 2-3 points of a core
each and the exchange-to-client latency by a few tenths of a millisecond at 2,000 events/s
(docs/benchmarks.md). It is a dependency on Linux and macOS; elsewhere the standard loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EventLoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory() -> EventLoopFactory | None:
    """uvloop's loop factory, or None for asyncio's default (uvloop not installed)."""
    try:
        import uvloop  # noqa: PLC0415 - optional: not built for every platform
    except ImportError:
        return None
    return uvloop.new_event_loop


def uvicorn_loop() -> str:
    """uvicorn's `loop` option for the same choice."""
    return "uvloop" if loop_factory() is not None else "asyncio"
