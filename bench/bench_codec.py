"""Avro encoding per record type: the codec's compiled writers next to fastavro's general one.

Encodes one example of every record type (and the processors' real outputs: a candle and an
indicator set with its volume profile, made by running trades through the candle logic) N times
each way and prints microseconds per record. Both produce the same bytes (tests/unit/schemas/
test_writer.py proves it); the figure is what the producers and processors save per record.

    .venv/bin/python bench/bench_codec.py [--records 20000]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import msgspec
from fastavro import schemaless_writer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_processors import trades  # noqa: E402
from marketdata.config.processors import TIMEFRAMES, IndicatorSettings  # noqa: E402
from processors.series import SymbolSeries, on_trade  # noqa: E402
from schemas.codec import MAGIC, Codec  # noqa: E402
from schemas.models import IndicatorSet, Record  # noqa: E402
from tests.unit.schemas.examples import examples  # noqa: E402


def processor_outputs() -> list[Record]:
    """The last candle and the last indicator set with a full volume profile, as the candle
    logic makes them from 3,000 trades."""
    series = SymbolSeries.new("kraken", "BTC/USD", TIMEFRAMES, 2_000_000, IndicatorSettings())
    candles: list[Record] = []
    indicators: list[Record] = []
    for trade in trades(3000):
        step = on_trade(series, trade)
        candles += step.candles
        indicators += step.indicators
    with_profile = [i for i in indicators if isinstance(i, IndicatorSet) and i.volume_profile]
    return [candles[-1], with_profile[-1]]


def per_record_us(encode: object, record: Record, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        encode(record)  # type: ignore[operator]
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    codec = Codec()

    def fastavro(record: Record) -> bytes:
        writer = codec._current[type(record).__name__]  # the codec's own parsed schema
        buf = io.BytesIO()
        buf.write(MAGIC + writer.fingerprint)
        schemaless_writer(buf, writer.plain, msgspec.to_builtins(record, builtin_types=(bytes,)))
        return buf.getvalue()

    print(f"Avro encoding, {args.records} records of each type (us per record)")
    print(f"  {'record':<26} {'bytes':>6} {'fastavro':>9} {'compiled':>9} {'speed-up':>9}")
    samples = [(type(r).__name__, r) for r in examples()]
    samples += [(f"{type(r).__name__} (processor)", r) for r in processor_outputs()]
    for label, record in samples:
        assert codec.encode(record) == fastavro(record)
        slow = per_record_us(fastavro, record, args.records)
        fast = per_record_us(codec.encode, record, args.records)
        size = len(codec.encode(record))
        print(f"  {label:<26} {size:>6} {slow:>9.1f} {fast:>9.1f} {slow / fast:>8.1f}x")


if __name__ == "__main__":
    main()
