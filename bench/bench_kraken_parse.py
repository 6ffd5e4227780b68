"""Kraken frame handling throughput: decode + normalize + book apply + checksum verify.

Records a realistic stream from the protocol-faithful simulator over loopback (book depth 1000 on
every symbol, trades, tickers, ohlc; book updates dominate as on the real feed), then replays the
recorded frames through the producer's hot path on one core and prints frames per second.

    .venv/bin/python bench/bench_kraken_parse.py [--seconds 8] [--rate 4000]

With `--cryptofeed PYTHON` (the interpreter of a separate venv that has cryptofeed installed) the
same book content is also fed to cryptofeed's Kraken handler in that interpreter, checksums on,
and the ratio is printed (see bench/cryptofeed_kraken.py).
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
from pathlib import Path

import msgspec
import websockets

from producers.core.orderbook import OrderBook
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from producers.exchanges.kraken.checksum import crc32_text
from simulator.config import SimulatorConfig
from simulator.server import running_simulator

SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")


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
            {"channel": "book", "symbol": list(SYMBOLS), "depth": 1000},
        ):
            await ws.send(json.dumps({"method": "subscribe", "params": request}))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = await ws.recv()
            frames.append(frame.encode() if isinstance(frame, str) else frame)
    return frames


def replay(frames: list[bytes]) -> tuple[float, int, int]:
    """Our hot path; returns (seconds, book messages verified, checksum failures)."""
    precision: dict[str, parse.Precision] = {}
    books: dict[str, OrderBook] = {}
    received = 1
    verified = failures = 0
    crcs: dict[str, tuple[OrderBook, int, int]] = {}

    def precision_of(symbol: str) -> parse.Precision:
        return precision.get(symbol) or parse.Precision(8, 8)

    started = time.perf_counter()
    for raw in frames:
        msg = m.decode_frame(raw)
        if isinstance(msg, m.KrakenBookMsg):
            snapshot = msg.type == "snapshot"
            for item in msg.data:
                p = precision_of(item.symbol)
                book = books.get(item.symbol)
                if book is None or snapshot:
                    book = books[item.symbol] = OrderBook(1000, p.price_precision, p.qty_precision)
                bids, asks = parse.book_levels(item.bids), parse.book_levels(item.asks)
                (book.apply_snapshot if snapshot else book.apply_update)(bids, asks)
                cached = crcs.get(item.symbol)
                if cached is None or cached[0] is not book or cached[1] != book.top_version:
                    cached = crcs[item.symbol] = (
                        book,
                        book.top_version,
                        crc32_text(book.unit_tokens(10)),
                    )
                if cached[2] != item.checksum:
                    failures += 1
                verified += 1
                ts = parse.rfc3339_micros(item.timestamp) if item.timestamp else received
                parse.book_update(
                    item.symbol, snapshot, bids, asks, item.checksum, 1000, ts, received, p
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rate", type=float, default=4000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cryptofeed", help="python of a venv with cryptofeed installed")
    args = ap.parse_args()
    frames = asyncio.run(record(args.seconds, args.rate))
    kinds = Counter(msgspec.json.decode(f).get("channel", "ack") for f in frames)
    print(f"recorded {len(frames)} frames from the simulator: {dict(kinds)}")
    best = min(replay(frames)[0] for _ in range(args.runs))
    _, verified, failures = replay(frames)
    ours = len(frames) / best
    print(
        f"ours: {ours:,.0f} frames/s (decode + normalize + book depth 1000 + checksum on "
        f"{verified} book messages, {failures} checksum failures), best of {args.runs}"
    )
    book_frames = [f for f in frames if f.startswith(b'{"channel":"book"')]
    book_best = min(replay(book_frames)[0] for _ in range(args.runs))
    ours_books = len(book_frames) / book_best
    print(f"ours, book frames only: {ours_books:,.0f} book frames/s")
    if args.cryptofeed:
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as out:
            out.write(b"\n".join(frames))
        helper = Path(__file__).with_name("cryptofeed_kraken.py")
        result = subprocess.run(
            [args.cryptofeed, str(helper), out.name, str(args.runs)],
            capture_output=True,
            text=True,
            check=False,
        )
        print(result.stdout.strip() or result.stderr.strip()[-2000:])
        theirs = next(
            (
                float(line.split()[1].replace(",", ""))
                for line in result.stdout.splitlines()
                if line.startswith("cryptofeed:")
            ),
            None,
        )
        if theirs:
            print(f"ratio ours/cryptofeed on the same book frames: {ours_books / theirs:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
