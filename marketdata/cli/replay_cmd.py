"""`marketdata replay`: the raw frames of a time window through today's parse layer again
(`producers.replay`); the records to a JSON-lines file, and with `--verify` the trades checked
against md.trades.v1. Reads Kafka only: nothing is published.

Exit status: 0, or 1 when `--verify` finds a difference, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Final

import msgspec

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.kafka.clients import make_consumer
from producers.replay import (
    Published,
    TradeCheck,
    read_frames,
    read_topic,
    replay,
    verify_trades,
    within,
)
from schemas import topics
from schemas.codec import Codec, DecodeError, micros
from schemas.models import Trade

_RELATIVE: Final = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TRADE_SLACK_US: Final = 60_000_000
"""md.trades.v1 is stamped with exchange time, the window with receipt time: start reading this
much before the window. The read runs to the end offsets (exchange time is not write order), and
the trades received in the window are kept."""
SHOWN: Final = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "replay",
        help="replay md.raw.v1 frames through the parser; check the trades published",
        description=(
            "Run the exchange frames kept in md.raw.v1 through today's parse layer again "
            "(books, checksums, trade gaps and all) and write the records it gives; nothing is "
            "published. TIME is ISO 8601 (2026-12-07T15:00:00Z) or an age (90s, 15m, 2h, 1d)."
        ),
    )
    cmd.add_argument("--since", metavar="TIME", help="first frame received (default: all kept)")
    cmd.add_argument("--until", metavar="TIME", help="received before this (default: now)")
    cmd.add_argument("--out", metavar="FILE", help="the records as JSON lines ('-': stdout)")
    cmd.add_argument(
        "--verify",
        action="store_true",
        help="compare the replayed trades with md.trades.v1 by trade id (exit 1 on a difference)",
    )
    cmd.add_argument(
        "--book-depth",
        type=int,
        help="book depth the producer subscribed (default: exchanges.kraken.bookDepth)",
    )
    cmd.add_argument("--bootstrap", help="bootstrap servers (default: resolved as everywhere)")
    cmd.set_defaults(func=_run)


def parse_time(text: str, now_us: int) -> int:
    """Microseconds since the epoch of an ISO 8601 time (with a zone) or an age before now."""
    if match := _RELATIVE.match(text.strip()):
        return now_us - int(float(match[1]) * _UNIT_S[match[2]] * 1_000_000)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time (2026-12-07T15:00:00Z) nor an age (15m)"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +00:00")
    return micros(when)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    now = time.time_ns() // 1000
    try:
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else now
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if since is not None and since >= until:
        print("error: --since must be before --until", file=sys.stderr)
        return 2
    kraken = settings.exchanges.kraken
    depth = args.book_depth
    if depth is None:
        depth = kraken.book_depth if kraken is not None else 25
    if depth < 1:
        print("error: --book-depth must be at least 1", file=sys.stderr)
        return 2
    bootstrap = args.bootstrap or require_bootstrap(settings)
    report = sys.stderr if args.out == "-" else sys.stdout
    with _opened(args.out) as out:
        return asyncio.run(_replay(bootstrap, since, until, depth, out, report, verify=args.verify))


@contextlib.contextmanager
def _opened(path: str | None) -> Iterator[IO[bytes] | None]:
    if path is None:
        yield None
    elif path == "-":
        yield sys.stdout.buffer
    else:
        with Path(path).open("wb") as f:
            yield f


async def _replay(
    bootstrap: str,
    since: int | None,
    until: int,
    depth: int,
    out: IO[bytes] | None,
    report: IO[str],
    *,
    verify: bool,
) -> int:
    codec = Codec()
    consumer = make_consumer(bootstrap, group_id=None, client_id="marketdata-replay")
    await consumer.start()
    try:
        sink = None
        if out is not None:
            encode, write = msgspec.json.Encoder().encode, out.write

            def sink(p: Published) -> None:
                write(encode({"topic": p.topic, "key": p.key, "record": p.record}) + b"\n")

        result = await replay(read_frames(consumer, since, until, codec), depth, sink)
        if out is not None:
            out.flush()
        published: list[Trade] = []
        read = 0
        if verify:
            async for value in read_topic(
                consumer, topics.TRADES, since, None, slack_us=TRADE_SLACK_US
            ):
                read += 1
                with contextlib.suppress(DecodeError):
                    record = codec.decode(value)
                    # only trades received in the window are compared (and kept in memory)
                    if isinstance(record, Trade) and within(record.received_ts, since, until):
                        published.append(record)
    finally:
        await consumer.stop()
    print(f"frames replayed: {result.frames}", file=report)
    for topic, count in result.per_topic().items():
        print(f"  {topic}: {count} records", file=report)
    print(
        f"parse errors: {result.parse_errors}, book checksum mismatches: "
        f"{result.checksum_mismatches}, trade gaps: {result.gaps or 0}, book updates before "
        f"their book's first snapshot in the window (skipped): {result.before_snapshot}",
        file=report,
    )
    for symbol, reason in result.resyncs[:SHOWN]:
        print(f"  book resync {symbol}: {reason}", file=report)
    if not verify:
        return 0
    print(
        f"{topics.TRADES.name}: {read} records read, {len(published)} received in the window",
        file=report,
    )
    check = verify_trades(result.trades, published, since, until)
    _print_check(check, report)
    return 0 if check.ok else 1


def _print_check(check: TradeCheck, report: IO[str]) -> None:
    print(
        f"trades checked against {topics.TRADES.name}: {check.compared} replayed, "
        f"{len(check.missing)} missing there, {len(check.different)} different there, "
        f"{len(check.unexplained)} there but not replayed",
        file=report,
    )
    for trade in check.missing[:SHOWN]:
        print(f"  missing: {trade.symbol} trade {trade.trade_id}", file=report)
    for ours, theirs in check.different[:SHOWN]:
        print(f"  different: {ours.symbol} trade {ours.trade_id}: {ours} != {theirs}", file=report)
    for trade in check.unexplained[:SHOWN]:
        print(f"  not replayed: {trade.symbol} trade {trade.trade_id}", file=report)
    print("OK" if check.ok else "DIFFERENCES FOUND", file=report)
