"""What the browser tests run against: the query API under uvicorn on a thread of its own, over a
read model filled by hand, and the records they push into it (fresh, timestamped now)."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar

from marketdata.config import Settings, load_config
from query_api.app import create_app
from query_api.dashboard import STATIC_DIR, dashboard_router
from query_api.readmodel.store import ReadModel
from query_api.state import ApiState, now_us
from schemas import topics as t
from schemas.models import (
    OHLCV,
    CandleSource,
    ConnectionState,
    ConnectionStatus,
    IndicatorSet,
    OrderBook,
    Position,
    PriceLevel,
    PriceTicker,
    Record,
)

MINUTE_US = 60_000_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


# ---- the server ---------------------------------------------------------------------------------


def settings() -> Settings:
    return load_config(None, {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dashboard_app(api: ApiState) -> Litestar:
    """`create_app` with the dashboard at `/` (registered here until create_app mounts it)."""
    app = create_app(api)
    if not any(route.path == "/" for route in app.routes):
        app.register(dashboard_router(STATIC_DIR))
    return app


@dataclass
class LiveServer:
    """The API under uvicorn on a thread of its own (its own event loop), stoppable and
    restartable on the same port; `push` applies a record and publishes it as the feed does."""

    model: ReadModel
    port: int = field(default_factory=free_port)
    api: ApiState | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # a fresh state (hub, registry) around the same read model: what a restarted replica
        # has once it caught up
        self.api = ApiState(settings(), model=self.model, always_ready=True)
        config = uvicorn.Config(
            dashboard_app(self.api),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
            ws_ping_interval=None,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            ready.set()
            assert self._server is not None
            await self._server.serve()

        self._thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "uvicorn did not stop"
        self._server = self._thread = self._loop = None

    def call[T](self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's event loop (the hub is single-threaded); its result."""
        assert self._loop is not None, "server not running"
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed back to the test thread
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(5)

    def push(self, topic: str, record: Record) -> int:
        """Apply a record to the read model and publish the update; clients reached."""
        if self._loop is None:  # server stopped: the model still changes (REST shows it later)
            self.model.apply(topic, record)
            return 0

        def apply() -> int:
            assert self.api is not None
            updates = self.api.model.apply(topic, record)
            return sum(self.api.hub.publish(update) for update in updates)

        return self.call(apply)


# ---- records ------------------------------------------------------------------------------------


def price(symbol: str, last: float, *, age_s: float = 0.0, change: float = 1.5) -> PriceTicker:
    ts = now_us() - int(age_s * 1e6)
    return PriceTicker(
        exchange="kraken",
        symbol=symbol,
        bid=last - 0.5,
        bid_qty=1,
        ask=last + 0.5,
        ask_qty=2,
        last=last,
        volume_24h=10,
        vwap_24h=last,
        high_24h=last * 1.02,
        low_24h=last * 0.98,
        change_24h=change,
        exchange_ts=ts,
        received_ts=ts,
        price_precision=2,
    )


def book(symbol: str, best_bid: float, best_ask: float) -> OrderBook:
    ts = now_us()
    return OrderBook(
        exchange="kraken",
        symbol=symbol,
        bids=[PriceLevel(best_bid - i, 1 + i) for i in range(10)],
        asks=[PriceLevel(best_ask + i, 1 + i / 2) for i in range(10)],
        depth=10,
        exchange_ts=ts,
        received_ts=ts,
        price_precision=2,
        size_precision=4,
    )


def candle(symbol: str, open_ts: int, close: float, *, closed: bool = True) -> OHLCV:
    ts = now_us()
    return OHLCV(
        exchange="kraken",
        symbol=symbol,
        timeframe="1m",
        open_ts=open_ts,
        open=close - 0.8,
        high=close + 1.5,
        low=close - 2.0,
        close=close,
        volume=3,
        exchange_ts=ts,
        received_ts=ts,
        closed=closed,
        source=CandleSource.AGGREGATED,
    )


def position(qty: float, mark: float, entry: float, *, asset: str = "BTC") -> Position:
    ts = now_us()
    return Position(
        exchange="kraken",
        asset=asset,
        quote="USD",
        qty=qty,
        price=mark,
        value=qty * mark,
        avg_entry_price=entry,
        unrealized_pnl=qty * (mark - entry),
        pnl_24h=qty * mark * 0.015,
        exchange_ts=ts,
        received_ts=ts,
    )


def status(state: ConnectionState, *, reconnects: int = 0) -> ConnectionStatus:
    ts = now_us()
    return ConnectionStatus(
        exchange="kraken",
        state=state,
        since=ts - 10_000_000,
        exchange_ts=ts,
        received_ts=ts,
        last_message_ts=ts,
        reconnects=reconnects,
    )


CANDLES = 60


def candle_minute(i: int) -> int:
    """Open time of candle i of the filled series (the last one is the current minute)."""
    now_minute = now_us() // MINUTE_US * MINUTE_US
    return now_minute - (CANDLES - 1 - i) * MINUTE_US


def filled_model() -> ReadModel:
    m = ReadModel()
    m.apply(t.PRICES.name, price("BTC/USD", 100.0))
    m.apply(t.PRICES.name, price("ETH/USD", 3000.0, change=-2.0))
    m.apply(t.PRICES.name, price("SOL/USD", 150.0, age_s=30))  # 30 s old: stale (TTL 1 s)
    m.apply(t.BOOKS.name, book("BTC/USD", 99.5, 100.5))
    for i in range(CANDLES):
        close = 100 + 5 * math.sin(i / 6) + i * 0.05
        m.apply(t.CANDLES.name, candle("BTC/USD", candle_minute(i), close, closed=i < CANDLES - 1))
    last = now_us()
    m.apply(
        t.INDICATORS.name,
        IndicatorSet(
            exchange="kraken",
            symbol="BTC/USD",
            timeframe="1m",
            open_ts=candle_minute(CANDLES - 1),
            exchange_ts=last,
            received_ts=last,
            rsi=61.5,
            macd=0.42,
            macd_signal=0.3,
            macd_hist=0.12,
            bb_upper=106.0,
            bb_middle=102.0,
            bb_lower=98.0,
            ema={"9": 102.5, "21": 101.7},
        ),
    )
    m.apply(t.POSITIONS.name, position(2, 100.0, 90.0))
    m.apply(t.STATUS.name, status(ConnectionState.SUBSCRIBED))
    return m


@dataclass
class Page:
    """A Playwright page with what a test checks at the end: no uncaught errors, no request
    leaving the machine."""

    page: Any
    errors: list[str]
    external: list[str]

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
