"""Kraken frame handling throughput: decode + normalize + book apply + checksum verify.

Records a realistic stream from the protocol-faithful simulator over loopback (book depth 1000 on
every symbol, trades, tickers, ohlc; book updates dominate as on the real feed), then replays the
recorded frames through the producer's hot path on one core and prints frames per second. The
replay makes the same calls, in the same order, as the adapter does per frame (`replay` below
mirrors `KrakenStream.on_frame`/`_dispatch`/`_on_book` minus metrics and publishing): decode into
typed messages, normalize into unified models, apply to the integer-tick book with truncation
(`KrakenBooks`), verify Kraken's CRC32 checksum. A second figure runs the same book frames through
`KrakenStream.on_frame` itself (metrics, raw-frame records, `BookUpdate`s handed to a publisher
that drops them), i.e. everything the producer does per frame short of Avro and Kafka.

    .venv/bin/python bench/bench_kraken_parse.py [--seconds 8] [--rate 4000]
        [--cryptofeed PYTHON [--cryptofeed PYTHON ...]]

Book levels are rewritten once, before any timing, with their numbers at the instrument's
precision (`"qty":0.02779200`, as Kraken's own frames carry them): cryptofeed builds its checksum
text from the wire digits, so it can only verify frames written that way. Both sides then read
the very same bytes. With `--cryptofeed PYTHON` (the interpreter of a separate venv that has
cryptofeed installed) those book frames are fed to cryptofeed's Kraken handler in that
interpreter, checksums on, and the ratio is printed (see bench/cryptofeed_kraken.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import msgspec
import websockets
from prometheus_client import CollectorRegistry

from producers.errors import ChecksumMismatch
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from producers.exchanges.kraken.books import KrakenBooks
from producers.exchanges.kraken.stream import KrakenStream
from producers.status import ProducerMetrics, StatusReporter
from schemas import topics
from schemas.models import BookUpdate, Record
from simulator.config import SimulatorConfig
from simulator.server import running_simulator

SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")
DEPTH = 1000
BOOK_PREFIX = b'{"channel":"book"'


async def record(seconds: float, rate: float) -> list[bytes]:
    frames: list[bytes] = []
    config = SimulatorConfig(events_per_second=rate, symbols=SYMBOLS, seed=11)
    async with (
        running_simulator(config) as sim,
        websockets.connect(sim.ws_url, max_size=None) as ws,
    ):
        for request in (
            {"channel": "instrument"},
            {"channel": "ticker", "symbol": list(SYMBOLS)},
            {"channel": "trade", "symbol": list(SYMBOLS)},
            {"channel": "ohlc", "symbol": list(SYMBOLS), "interval": 1},
            {"channel": "book", "symbol": list(SYMBOLS), "depth": DEPTH},
        ):
            await ws.send(json.dumps({"method": "subscribe", "params": request}))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = await ws.recv()
            frames.append(frame.encode() if isinstance(frame, str) else frame)
    return frames


def _fixed(value: float, places: int) -> str:
    return format(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places)), "f")


def at_precision(frames: list[bytes]) -> list[bytes]:
    """Book frames rewritten with every level's numbers at the instrument's precision."""
    precision: dict[str, tuple[int, int]] = {}
    out = []
    for raw in frames:
        if not raw.startswith(BOOK_PREFIX):
            if raw.startswith(b'{"channel":"instrument"'):
                for pair in json.loads(raw)["data"]["pairs"]:
                    precision[pair["symbol"]] = (pair["price_precision"], pair["qty_precision"])
            out.append(raw)
            continue
        msg = json.loads(raw)
        items = []
        for item in msg["data"]:
            pp, qp = precision[item["symbol"]]
            sides = {
                side: ",".join(
                    f'{{"price":{_fixed(lv["price"], pp)},"qty":{_fixed(lv["qty"], qp)}}}'
                    for lv in item[side]
                )
                for side in ("bids", "asks")
            }
            items.append(
                f'{{"symbol":{json.dumps(item["symbol"])},"bids":[{sides["bids"]}],'
                f'"asks":[{sides["asks"]}],"checksum":{item["checksum"]},'
                f'"timestamp":{json.dumps(item.get("timestamp"))}}}'
            )
        body = f'{{"channel":"book","type":"{msg["type"]}","data":[{",".join(items)}]}}'
        out.append(body.encode())
    return out


def replay(frames: list[bytes]) -> tuple[float, int, int]:
    """The adapter's per-frame work; returns (seconds, book messages verified, failures)."""
    precision: dict[str, parse.Precision] = {}
    books = KrakenBooks(DEPTH)
    received = 1
    verified = failures = 0

    def precision_of(symbol: str) -> parse.Precision:
        return precision.get(symbol) or parse.Precision(8, 8)

    started = time.perf_counter()
    for raw in frames:
        msg = m.decode_frame(raw)
        if isinstance(msg, m.KrakenBookMsg):  # KrakenAdapter._on_book
            snapshot = msg.type == "snapshot"
            for item in msg.data:
                symbol, p = item.symbol, precision_of(item.symbol)
                bids, asks = item.bids, item.asks
                try:
                    if not books.apply(
                        symbol,
                        snapshot,
                        bids,
                        asks,
                        item.checksum,
                        p.price_precision,
                        p.qty_precision,
                    ):
                        continue
                except ChecksumMismatch:
                    failures += 1
                    continue
                verified += 1
                ts = parse.rfc3339_micros(item.timestamp) if item.timestamp else received
                parse.book_update(
                    symbol, snapshot, bids, asks, item.checksum, DEPTH, ts, received, p
                )
        elif isinstance(msg, m.KrakenTradeMsg):
            parse.parse_trades(msg, received, precision_of)
        elif isinstance(msg, m.KrakenTickerMsg):
            parse.parse_ticker(msg, received, precision_of)
        elif isinstance(msg, m.KrakenOhlcMsg):
            parse.parse_ohlc(msg, received, precision_of)
        elif isinstance(msg, m.KrakenInstrumentMsg):
            precision.update(parse.parse_instrument(msg))
    return time.perf_counter() - started, verified, failures


class _DroppingPublisher:
    def __init__(self) -> None:
        self.books = 0

    async def publish(self, topic: topics.TopicSpec, key: str, record: Record, ts: int) -> None:
        self.books += isinstance(record, BookUpdate)


async def _no_resync(symbol: str, reason: str) -> None:
    raise SystemExit(f"resync of {symbol}: {reason}")


async def _through_stream(frames: list[bytes]) -> tuple[float, int]:
    publisher = _DroppingPublisher()
    stream = KrakenStream(
        DEPTH,
        publisher,
        StatusReporter("kraken", publisher),
        ProducerMetrics(CollectorRegistry()),
        _no_resync,
        ohlc_conflate_seconds=0,
    )
    started = time.perf_counter()
    for raw in frames:
        await stream.on_frame(raw, 1)
    return time.perf_counter() - started, publisher.books


def stream_best_of(frames: list[bytes], runs: int) -> tuple[float, int]:
    results = [asyncio.run(_through_stream(frames)) for _ in range(runs)]
    return min(r[0] for r in results), results[-1][1]


def best_of(frames: list[bytes], runs: int) -> tuple[float, int, int]:
    results = [replay(frames) for _ in range(runs)]
    return min(r[0] for r in results), results[-1][1], max(r[2] for r in results)


def cryptofeed(python: str, book_frames: list[bytes], runs: int) -> float | None:
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as out:
        out.write(b"\n".join(book_frames))
        out.flush()
        helper = Path(__file__).with_name("cryptofeed_kraken.py")
        result = subprocess.run(
            [python, str(helper), out.name, str(runs)],
            capture_output=True,
            text=True,
            check=False,
        )
    print(result.stdout.strip() or result.stderr.strip()[-2000:])
    return next(
        (
            float(line.split()[-1])
            for line in result.stdout.splitlines()
            if line.startswith("book frames/s:")
        ),
        None,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rate", type=float, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--cryptofeed",
        action="append",
        default=[],
        help="python of a venv with cryptofeed installed (repeatable)",
    )
    args = ap.parse_args()
    # The first instrument snapshot lists every pair: book frames need its precisions.
    frames = at_precision(asyncio.run(record(args.seconds, args.rate)))
    kinds = Counter(msgspec.json.decode(f).get("channel", "ack") for f in frames)
    print(f"recorded {len(frames)} frames from the simulator: {dict(kinds)}")
    seconds, verified, failures = best_of(frames, args.runs)
    print(
        f"ours: {len(frames) / seconds:,.0f} frames/s (decode + normalize + book depth {DEPTH} "
        f"+ checksum on {verified} book messages, {failures} checksum failures), "
        f"best of {args.runs}"
    )
    if failures or verified != kinds["book"]:
        raise SystemExit(f"{failures} checksum failures, {verified} of {kinds['book']} verified")
    book_frames = [f for f in frames if f.startswith(BOOK_PREFIX)]
    # The instrument frame first, as on the wire: the books need its precisions.
    instrument = [f for f in frames if f.startswith(b'{"channel":"instrument"')]
    seconds, verified, failures = best_of(instrument + book_frames, args.runs)
    ours = len(book_frames) / seconds
    print(
        f"ours, book frames only: {ours:,.0f} book frames/s "
        f"({verified} verified, {failures} checksum failures)"
    )
    seconds, published = stream_best_of(instrument + book_frames, args.runs)
    whole = len(book_frames) / seconds
    print(
        f"ours, book frames through KrakenStream.on_frame (metrics, raw frames, {published} "
        f"BookUpdates to a dropping publisher): {whole:,.0f} book frames/s"
    )
    for python in args.cryptofeed:
        theirs = cryptofeed(python, book_frames, args.runs)
        if theirs:
            print(
                f"ratio ours/cryptofeed on the same book frames: {ours / theirs:.1f}x "
                f"(through KrakenStream.on_frame: {whole / theirs:.1f}x)"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
