"""The cryptofeed side of bench_kraken_parse.py: run with the interpreter of a separate venv that
has cryptofeed installed (never the project's venv).

    python bench/cryptofeed_kraken.py BOOK_FRAMES.jsonl RUNS

The file holds the Kraken WebSocket v2 book frames our side replays, byte for byte. cryptofeed
3.x's Kraken handler speaks v2 and gets them unchanged; cryptofeed 2.x speaks v1, so for it each
frame is translated (outside the timed loop) into the v1 shape carrying the same levels, as the
same decimal text, and the same checksum. Either way cryptofeed decodes, applies and verifies
every frame (`checksum_validation=True`; a mismatch raises) through its own `message_handler`.
Symbols are registered from a local AssetPairs-shaped table, so nothing is fetched.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version

from cryptofeed.defines import L2_BOOK
from cryptofeed.exchanges import Kraken
from cryptofeed.symbols import Symbols

PAIRS = {"BTC/USD": "XBT/USD", "ETH/USD": "ETH/USD", "SOL/USD": "SOL/USD"}
_DECIMAL = json.JSONDecoder(parse_float=str)  # keeps each number's digits as written


def to_v1(lines: list[bytes]) -> list[str]:
    out: list[str] = []
    for raw in lines:
        msg = _DECIMAL.decode(raw.decode())
        for item in msg["data"]:
            levels = {
                side: [[lv["price"], lv["qty"], "1700000000.000000"] for lv in item[side]]
                for side in ("bids", "asks")
            }
            body: dict[str, object]
            if msg["type"] == "snapshot":
                body = {"as": levels["asks"], "bs": levels["bids"]}
            else:
                body = {"a": levels["asks"], "b": levels["bids"], "c": str(item["checksum"])}
            out.append(json.dumps([42, body, "book-1000", PAIRS[item["symbol"]]]))
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
        lines = [line for line in recorded.read().split(b"\n") if line]
    runs = int(sys.argv[2])
    result = {f"X{k.replace('/', '')}": {"wsname": v} for k, v in PAIRS.items()}
    Symbols.set(Kraken.id, *Kraken._parse_symbol_data({"result": result}))
    release = version("cryptofeed")
    v2 = int(release.split(".")[0]) >= 3
    frames = [line.decode() for line in lines] if v2 else to_v1(lines)
    best = min(asyncio.run(run(frames)) for _ in range(runs))
    print(
        f"cryptofeed {release} ({'v2 frames as recorded' if v2 else 'the frames as v1'}, "
        f"{len(frames)} book frames, checksum_validation on, best of {runs})"
    )
    print(f"book frames/s: {len(frames) / best:.0f}")


if __name__ == "__main__":
    main()
