"""Simulator → Kraken producer → real Kafka → processor worker → query API: every table topic
fills for every symbol and timeframe, the closed 1m candles built from trades equal the
simulator's own OHLC, and the API serves it all over REST, `/ws` and the SignalR hub to real
clients (`websockets`, the Python `pysignalr` and Microsoft's own `@microsoft/signalr` on Node).

Symbols no other test publishes (XRP/USD, LTC/USD), so what earlier tests left in the shared
topics cannot mix in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from playwright.async_api import async_playwright
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pysignalr.client import SignalRClient

from marketdata.config import MarketData, Settings
from marketdata.config.processors import TIMEFRAMES
from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.local import free_port
from producers.exchanges.kraken.adapter import kraken_adapter_factory
from producers.runner import run_producer
from schemas import topics as t
from schemas.models import OHLCV, Alert, CandleSource, IndicatorSet, OrderBook, PriceTicker
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.contract.producer.producer_harness import settings_for
from tests.integration.processor_harness import TableReader, worker, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ("XRP/USD", "LTC/USD")
PAIRS = {"XRP/USD": "XRPUSD", "LTC/USD": "LTCUSD"}
INTERVALS = [1, 5, 15, 60, 240, 1440]
NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "signalr_client.mjs"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def metric(port: int, name: str) -> float:
    """A sample of the worker's /metrics (0 while it is not serving yet)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def ours_closed_1m(reader: TableReader) -> list[OHLCV]:
    return [
        r
        for (topic, _), r in reader.latest.items()
        if topic == t.CANDLES.name
        and isinstance(r, OHLCV)
        and r.timeframe == "1m"
        and r.closed
        and r.source is CandleSource.AGGREGATED
    ]


async def already_published(bootstrap: str) -> bool:
    """Whether md.trades.v1 already holds trades of SYMBOLS (a reused broker)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t.TRADES.name, p) for p in range(t.TRADES.partitions)]
        consumer.assign(tps)
        for attempt in range(50):  # topics created a moment ago may not have leaders yet
            try:
                ends = await consumer.end_offsets(tps)
                break
            except KafkaError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
        await consumer.seek_to_beginning(*tps)
        wanted = {f"kraken:{s}".encode() for s in SYMBOLS}
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                if any(m.key in wanted for m in messages):
                    return True
    finally:
        await consumer.stop()
    return False


async def check_api(url: str) -> None:
    """REST, /ws and both SignalR clients against the running API."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/ready")).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the API never became ready"
            await asyncio.sleep(0.5)
        while (answer := await http.get("/api/prices/XRP-USD")).status_code != 200:
            assert answer.status_code == 404, answer.text  # no price yet: the pipeline warms up
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.5)
        price = answer.json()
        assert price["data"]["symbol"] == "XRP/USD"
        assert price["data"]["bid"] <= price["data"]["ask"]
        assert price["age_seconds"] < 30
        assert price["stale"] == (price["age_seconds"] > 1.0)  # cache.priceTtlSeconds
        while (
            answer := await http.get("/api/orderbook/LTCUSD", params={"depth": 5})
        ).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.5)
        book = answer.json()
        assert len(book["data"]["bids"]) == 5
        status = (await http.get("/api/status")).json()
        assert status["exchanges"][0]["state"] == "subscribed"

    ws_url = url.replace("http", "ws")
    async with websockets.connect(f"{ws_url}/ws") as ws:
        assert json.loads(await ws.recv())["type"] == "connection"
        await ws.send(json.dumps({"op": "subscribe", "channel": "prices", "symbols": ["XRP/USD"]}))
        kinds = []
        while "update" not in kinds:
            message = json.loads(await asyncio.wait_for(ws.recv(), 15))
            kinds.append(message["type"])
            if message["type"] in ("snapshot", "update"):
                assert message["data"]["symbol"] == "XRP/USD"
        assert kinds[:2] == ["subscribed", "snapshot"]

    prices: list[dict[str, object]] = []
    client = SignalRClient(f"{url}/hubs/marketdata")

    async def on_price(arguments: list[dict[str, object]]) -> None:
        prices.append(arguments[0])

    async def on_open() -> None:
        await client.send("SubscribeToSymbols", [["LTC/USD"]])  # type: ignore[list-item]

    client.on("PriceUpdate", on_price)
    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        deadline = time.monotonic() + 20
        while len(prices) < 2:
            assert not task.done(), task
            assert time.monotonic() < deadline, "pysignalr received no PriceUpdate"
            await asyncio.sleep(0.2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    assert {p["symbol"] for p in prices} == {"LTC/USD"}

    node = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_CLIENT),
        f"{url}/hubs/marketdata",
        "XRP/USD",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(node.communicate(), 60)
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert node.returncode == 0, out.decode()
    assert events[0]["event"] in ("subscribed", "ConnectionStateChanged"), events
    assert next(e for e in events if e["event"] == "subscribed")["result"]["symbols"] == ["XRP/USD"]
    assert sum(1 for e in events if e["event"] == "PriceUpdate" and e["symbol"] == "XRP/USD") >= 3
    assert events[-1]["event"] == "stopped"


async def check_dashboard(url: str) -> None:
    """The dashboard in headless Chromium over the live pipeline: live prices for every symbol,
    candles on the chart, the service indicator green. A screenshot goes to test-artifacts/."""
    chromium = next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
    )
    if chromium is None:
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium (make chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(f"{url}/")
            for symbol in SYMBOLS:
                last = page.locator(f'#tickers-body tr[data-symbol="{symbol}"] [data-field="last"]')
                await last.wait_for(timeout=20_000)
                first = await last.inner_text()
                assert float(first.replace(",", "")) > 0
            service = page.locator("#service-status")
            await page.wait_for_function(
                "document.querySelector('#service-status').dataset.state === 'live'", timeout=20_000
            )
            assert await service.get_attribute("data-state") == "live"
            await page.wait_for_function(
                "Number(document.querySelector('#chart').dataset.candleCount || 0) > 100",
                timeout=20_000,
            )  # 720 candles of history seeded the chart's 1m series
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "e2e-live-dashboard.png"), full_page=True)
        finally:
            await browser.close()


async def sim_ohlc(rest_url: str, symbol: str) -> dict[int, list[str]]:
    async with httpx.AsyncClient() as client:
        answer = (
            await client.get(
                f"{rest_url}/0/public/OHLC", params={"pair": PAIRS[symbol], "interval": 1}
            )
        ).json()
    rows = next(v for k, v in answer["result"].items() if k != "last")
    return {int(row[0]) * 1_000_000: row for row in rows}


async def test_the_tables_fill_and_closed_candles_equal_the_exchanges_ohlc(
    bootstrap: str, unique: object, tmp_path: Path
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    if await already_published(bootstrap):
        pytest.skip(
            f"the broker already holds {SYMBOLS} trades from an earlier run: this test needs "
            "a broker without them (the suite's own broker is always fresh)"
        )
    app_id = f"e2e-{unique('p').split('.')[-1]}-v1"  # type: ignore[operator]
    port = free_port()
    config = write_config(tmp_path / "config.yaml", bootstrap, app_id)
    async with running_simulator(SimulatorConfig(events_per_second=300, symbols=SYMBOLS)) as sim:
        exchange = settings_for(sim, symbols=list(SYMBOLS), ohlc_intervals=INTERVALS)
        settings = Settings(
            MarketData.model_validate({"exchanges": {"kraken": exchange.model_dump()}})
        )
        stop = asyncio.Event()
        producer = asyncio.create_task(
            run_producer(
                settings,
                "kraken",
                bootstrap,
                CollectorRegistry(),
                kraken_adapter_factory(exchange),
                stop,
            )
        )
        try:
            async with TableReader(
                bootstrap,
                (t.CANDLES, t.INDICATORS, t.PRICES, t.BOOKS, t.ALERTS),
                "kraken:",
            ) as reader:
                api_port = free_port()
                api_log = (tmp_path / "api.log").open("wb")
                api = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "marketdata",
                        "--config",
                        str(config),
                        "api",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(api_port),
                    ],
                    stdout=api_log,
                    stderr=subprocess.STDOUT,
                )
                with worker(config, tmp_path / "worker.log", metrics_port=port) as w:
                    try:
                        await check_api(f"http://127.0.0.1:{api_port}")
                        await check_dashboard(f"http://127.0.0.1:{api_port}")
                    finally:
                        api.terminate()
                        api.wait(20)
                        api_log.close()
                    deadline = time.monotonic() + 200
                    while not (
                        metric(port, "marketdata_processor_candles_reconciled_total") >= 2
                        and {c.symbol for c in ours_closed_1m(reader)} >= set(SYMBOLS)
                    ):
                        assert w.alive(), w.tail()
                        assert not producer.done(), producer
                        assert time.monotonic() < deadline, w.tail()
                        await reader.poll(1.0)
                    await reader.poll(1.0)
                    dead = metric(port, "marketdata_processor_dead_letters_total")
                latest = reader.latest
                for symbol in SYMBOLS:
                    for tf in TIMEFRAMES:
                        assert any(
                            k.startswith(f"kraken:{symbol}:{tf}:")
                            for (topic, k) in latest
                            if topic == t.CANDLES.name
                        ), f"no {tf} candles for {symbol}"
                        indicator = latest.get((t.INDICATORS.name, f"kraken:{symbol}:{tf}"))
                        assert isinstance(indicator, IndicatorSet), (
                            f"no {tf} indicators for {symbol}"
                        )
                        if tf in ("1m", "5m", "15m"):  # 720 candles of history: warm at start
                            assert indicator.ema.get("50") is not None, indicator
                            assert indicator.macd is not None, indicator
                            assert indicator.rsi is not None, indicator
                    price = latest.get((t.PRICES.name, f"kraken:{symbol}"))
                    assert isinstance(price, PriceTicker)
                    assert price.bid <= price.ask
                    book = latest.get((t.BOOKS.name, f"kraken:{symbol}"))
                    assert isinstance(book, OrderBook)
                    assert book.bids[0].price < book.asks[0].price
                # Ours, not the processor's global count: it also reads what earlier tests left
                # in the shared topics (the kill -9 test's trades miss a producer's downtime).
                assert mismatch_alerts(reader) == []
                assert dead == 0

                # The candles built from trades equal the simulator's own OHLC, field for field.
                for symbol in SYMBOLS:
                    theirs = await sim_ohlc(sim.rest_url, symbol)
                    mine = [c for c in ours_closed_1m(reader) if c.symbol == symbol]
                    assert mine
                    for c in mine:
                        row = theirs[c.open_ts]
                        assert [float(x) for x in row[1:5]] == [c.open, c.high, c.low, c.close]
                        assert float(row[6]) == pytest.approx(c.volume, rel=1e-9, abs=1e-8)
                        assert int(row[7]) == c.trades
        finally:
            stop.set()
            await asyncio.wait_for(producer, 30)


def mismatch_alerts(reader: TableReader) -> list[Alert]:
    """Candle-mismatch alerts raised for this test's symbols."""
    return [
        r
        for (topic, key), records in reader.history.items()
        if topic == t.ALERTS.name and any(key.startswith(f"kraken:{s}:") for s in SYMBOLS)
        for r in records
        if isinstance(r, Alert) and r.kind == "candle_mismatch" and r.active
    ]
