"""The cryptofeed side of bench_kraken_parse.py: run with the interpreter of a separate venv that
has cryptofeed installed (never the project's venv).

    python bench/cryptofeed_kraken.py FRAMES.jsonl RUNS

cryptofeed's Kraken handler speaks Kraken's WebSocket v1, so each recorded v2 book frame is
translated (outside the timed loop) into the v1 shape carrying the same levels as decimal text at
the instrument's precision and the same checksum; cryptofeed then decodes, applies and verifies
it (`checksum_validation=True`) through its own `message_handler`. Symbols are registered from a
local AssetPairs-shaped table, so nothing is fetched from the network.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Kraken
from cryptofeed.symbols import Symbols

PAIRS = {"BTC/USD": "XBT/USD", "ETH/USD": "ETH/USD", "SOL/USD": "SOL/USD"}


def text(value: float, places: int) -> str:
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places)))


def translate(lines: list[bytes]) -> list[str]:
    precision: dict[str, tuple[int, int]] = {}
    out: list[str] = []
    for raw in lines:
        msg = json.loads(raw)
        if msg.get("channel") == "instrument":
            for pair in msg["data"]["pairs"]:
                precision[pair["symbol"]] = (pair["price_precision"], pair["qty_precision"])
        if msg.get("channel") != "book":
            continue
        for item in msg["data"]:
            pp, qp = precision[item["symbol"]]
            levels = {
                side: [
                    [text(lv["price"], pp), text(lv["qty"], qp), "1700000000.000000"]
                    for lv in item[side]
                ]
                for side in ("bids", "asks")
            }
            name = "book-1000"
            pair = PAIRS[item["symbol"]]
            if msg["type"] == "snapshot":
                body = {"as": levels["asks"], "bs": levels["bids"]}
            else:
                body = {"a": levels["asks"], "b": levels["bids"], "c": str(item["checksum"])}
            out.append(json.dumps([42, body, name, pair]))
    return out


async def on_book(*_args: object, **_kwargs: object) -> None:
    return None


async def run(frames: list[str]) -> float:
    feed = Kraken(
        symbols=["BTC-USD", "ETH-USD", "SOL-USD"],
        channels=[L2_BOOK],
        callbacks={L2_BOOK: on_book},
        checksum_validation=True,
        max_depth=1000,
    )
    started = time.perf_counter()
    for frame in frames:
        await feed.message_handler(frame, None, 0.0)
    return time.perf_counter() - started


def main() -> None:
    with open(sys.argv[1], "rb") as recorded:
        lines = recorded.read().split(b"\n")
    runs = int(sys.argv[2])
    result = {f"X{k.replace('/', '')}": {"wsname": v} for k, v in PAIRS.items()}
    Symbols.set(Kraken.id, *Kraken._parse_symbol_data({"result": result}))
    frames = translate(lines)
    best = min(asyncio.run(run(frames)) for _ in range(runs))
    print(
        f"cryptofeed: {len(frames) / best:,.0f} book frames/s ({len(frames)} v1 book frames, "
        f"checksum_validation on), best of {runs}"
    )


if __name__ == "__main__":
    main()
