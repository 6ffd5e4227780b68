"""`kill -9` of the producer, the processor and the API under load, each at a random (seeded,
printed) moment, with the whole system under `marketdata run` against the session broker: every
part comes back under the supervisor, and once the exchange is paused everything converges on
content:

- the API's order books and last prices and trades equal the simulator's own truth;
- every closed 1m candle the API serves equals the simulator's OHLC for that window, the windows
  the producer's downtime cut trades out of (trade ids show exactly which) too: the processor
  settles those on the exchange's own candle;
- the per-key sequence numbers in the raw topics show one unbroken run per producer process:
  the only loss is the producer's downtime (a restarted producer starts a new run, by design);
- the table topics (books, prices, candles built from trades) equal what a fresh, undisturbed
  processor (new app id) computes from the same input records. Both processors start at the
  offsets where this test's input begins, not at the beginning of the session broker's topics.
  Indicators are left out of this comparison: they depend on the order in which the processor
  reads two input topics (see `reproducible`).

The simulator runs in this process on an exchange clock six times faster than the wall clock
(`ScaledClock`), so one-minute windows close every 10 s and the test sees several close, built
from trades, within its time budget. Nothing in the pipeline reads the exchange's clock except to
stamp and window data. Set MARKETDATA_CHAOS_SEED to replay a failing kill plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest
import yaml

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.local import free_port
from schemas import topics as t
from schemas.models import (
    OHLCV,
    BookUpdate,
    CandleSource,
    IndicatorSet,
    OrderBook,
    PriceTicker,
    Record,
    Trade,
)
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimulatorConfig
from simulator.exchanges.kraken.rest_market import RestTicker
from simulator.server import SimulatorHandle, running_simulator
from tests.faults.pipeline_harness import (
    Fetched,
    RunProcess,
    ScaledClock,
    by_key,
    commit_group_offsets,
    committed_offsets,
    end_offsets,
    latest_by_key,
    read_from,
    sequence_runs,
)
from tests.integration.processor_harness import worker, write_config

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ("ADA/USD", "DOGE/USD")  # published by no other test
KEYS = tuple(f"kraken:{s}" for s in SYMBOLS)
SPEED = 6.0
RATE = 50.0  # per exchange second: 300 events per wall second
CHAOS_S = 30.0
INPUTS = (t.TICKER, t.TRADES, t.BOOK, t.OHLC, t.BALANCES, t.STATUS)
TABLES = (t.PRICES, t.BOOKS, t.CANDLES, t.INDICATORS)
MINUTE_US = 60_000_000
MINUTE_NS = 1000 * MINUTE_US
NS_PER_S = 1_000_000_000
GRACE_US = 5_000_000  # processors.graceSeconds


@dataclass(frozen=True, slots=True)
class Kill:
    at: float  # seconds into the chaos
    part: str


def kill_plan(rng: random.Random) -> list[Kill]:
    """Each part once; the producer early enough that later windows are whole again."""
    plan = [
        Kill(round(rng.uniform(3, 12), 2), "producer"),
        Kill(round(rng.uniform(3, 25), 2), "processor"),
        Kill(round(rng.uniform(3, 25), 2), "api"),
    ]
    return sorted(plan, key=lambda k: k.at)


def run_config(path: Path, bootstrap: str, sim: SimulatorHandle, port: int, app_id: str) -> Path:
    doc = {
        "marketData": {
            "service": {"host": "127.0.0.1", "port": port, "logFormat": "json"},
            "kafka": {"bootstrapServers": bootstrap},
            "simulator": {"enabled": False},
            "exchanges": {
                "kraken": {
                    "wsUrl": sim.ws_url,
                    "wsAuthUrl": sim.ws_auth_url,
                    "restUrl": sim.rest_url,
                    "apiKey": DEFAULT_API_KEY,
                    "secretKey": DEFAULT_API_SECRET,
                    "symbols": list(SYMBOLS),
                    "bookDepth": 10,
                    "ohlcIntervals": [1],
                }
            },
            "processors": {
                "appId": app_id,
                "dataDir": str(path.parent / "state"),
                "stallAfterSeconds": 5,  # a stall is in the log before the comparisons end
            },
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), "utf-8")
    return path


def logged(part: str, event: str) -> Callable[[str], bool]:
    return lambda line: line.lstrip().startswith(f"{part} |") and event in line


async def comeback(
    run: RunProcess, kill: Kill, old: int, mark: int, http: httpx.AsyncClient, clock: ScaledClock
) -> int:
    """The supervisor noticed the kill, started the part again, and it is doing its job; the
    exchange's time then."""
    await run.wait_line(lambda line: f"{kill.part} exited with -9" in line, after=mark)
    await run.wait_replaced(kill.part, old)
    if kill.part == "producer":
        await run.wait_line(logged("producer", '"state": "subscribed"'), after=mark)
    elif kill.part == "processor":
        await run.wait_line(logged("processor", "processor.assigned"), after=mark, timeout=90)
    else:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/ready")).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"the API did not come back:\n{run.tail()}"
            await asyncio.sleep(0.2)
    return clock.now_ns()


TradeRow = tuple[str, str, float, str, str, str, int]
OhlcRow = tuple[int, str, str, str, str, str, str, int]


async def rest[T](sim: SimulatorHandle, method: str, kind: type[T], **params: str | int) -> T:
    """The one pair's part of a public REST answer, typed."""
    async with httpx.AsyncClient(base_url=sim.rest_url, timeout=10) as client:
        body = (await client.get(f"/0/public/{method}", params=params)).json()
    assert not body["error"], body
    return msgspec.convert(next(v for k, v in body["result"].items() if k != "last"), kind)


async def truth_gaps(http: httpx.AsyncClient, sim: SimulatorHandle) -> list[str]:
    """How the API's books, last prices and last trades differ from the paused exchange's."""
    gaps: list[str] = []
    for symbol in SYMBOLS:
        path = symbol.replace("/", "-")
        truth = await sim.control.book(symbol, 10)
        answer = await http.get(f"/api/orderbook/{path}", params={"depth": 10})
        if answer.status_code != 200:
            gaps.append(f"{symbol} book: HTTP {answer.status_code}")
            continue
        book = msgspec.convert(answer.json()["data"], OrderBook)
        pp, qp = book.price_precision, book.size_precision
        ours = [[(round(v.price, pp), round(v.qty, qp)) for v in s] for s in (book.bids, book.asks)]
        theirs = [[(round(p, pp), round(q, qp)) for p, q in s] for s in (truth.bids, truth.asks)]
        if ours != theirs or book.checksum != truth.checksum:
            gaps.append(f"{symbol} book {ours} ({book.checksum}) != {theirs} ({truth.checksum})")
        ticker = await rest(sim, "Ticker", RestTicker, pair=symbol)
        answer = await http.get(f"/api/prices/{path}")
        last = msgspec.convert(answer.json()["data"], PriceTicker).last if answer.is_success else 0
        if round(last, pp) != float(ticker.c[0]):
            gaps.append(f"{symbol} last price {last} != {ticker.c[0]}")
        row = (await rest(sim, "Trades", list[TradeRow], pair=symbol, count=1))[-1]
        answer = await http.get("/api/trades", params={"symbol": symbol, "limit": 1})
        trades = msgspec.convert(answer.json().get("data", []), list[Trade])
        mine = (trades[-1].trade_id, trades[-1].price, trades[-1].qty) if trades else None
        if mine != (str(row[6]), float(row[0]), float(row[1])):
            gaps.append(f"{symbol} last trade {mine} != {row}")
    return gaps


Sequenced = PriceTicker | Trade | BookUpdate | OHLCV


def sequenced(records: list[Record]) -> list[Sequenced]:
    out = [r for r in records if isinstance(r, PriceTicker | Trade | BookUpdate | OHLCV)]
    assert len(out) == len(records)
    return out


def cut_windows(trades: list[Trade]) -> tuple[set[int], int]:
    """The 1m windows (open times) that lost trades to a gap in trade ids, and how many."""
    cut: set[int] = set()
    lost = 0
    for a, b in itertools.pairwise(trades):
        if int(b.trade_id) > int(a.trade_id) + 1:
            lost += int(b.trade_id) - int(a.trade_id) - 1
            first, last = a.exchange_ts // MINUTE_US, b.exchange_ts // MINUTE_US
            cut |= {m * MINUTE_US for m in range(first, last + 1)}
    return cut, lost


def reproducible(tables: dict[tuple[str, str], Record]) -> dict[tuple[str, str], Record]:
    """What two processors fed the same records must agree on, whatever order their agents
    happen to take the input topics in.

    Candles are settled the same way in any order (processors/series.py); indicators are not:
    a window moves them once, with what was known then (ours, or the exchange's candle when it
    came first), so they are left out. A price's `seq` counts its changes, and tickers and
    trades move a price through two agents: its content must agree, not its count."""
    out: dict[tuple[str, str], Record] = {}
    for (topic, key), record in tables.items():
        if isinstance(record, IndicatorSet):
            continue
        plain = (
            msgspec.structs.replace(record, seq=0) if isinstance(record, PriceTicker) else record
        )
        out[(topic, key)] = plain
    return out


async def test_kill_9_of_each_part_under_load_converges_on_the_exchange_and_an_undisturbed_run(
    bootstrap: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    seed = int(os.environ.get("MARKETDATA_CHAOS_SEED") or random.randrange(1_000_000))
    plan = kill_plan(random.Random(seed))
    print(f"kill plan (MARKETDATA_CHAOS_SEED={seed}): {plan}")
    await ensure_topics(bootstrap, replication_factor=1)
    tag = unique("k").split(".")[-1]
    app_id, fresh_id = f"kill9-{tag}-v1", f"kill9-{tag}-fresh-v1"
    start = await end_offsets(bootstrap, INPUTS)
    for group in (app_id, fresh_id):  # both processors read exactly this test's input
        await commit_group_offsets(bootstrap, group, start)
    tables_start = await end_offsets(bootstrap, TABLES)

    sim_config = SimulatorConfig(events_per_second=RATE, symbols=SYMBOLS, seed=seed % 1000)
    clock = ScaledClock(SPEED)
    async with running_simulator(sim_config, clock=clock) as sim:
        port = free_port()
        config = run_config(tmp_path / "run" / "config.yaml", bootstrap, sim, port, app_id)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MARKETDATA_KAFKA_STATE_DIR": str(tmp_path / "kafka"),
        }
        run = RunProcess.start(config, tmp_path / "run.log", env)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                await run.wait_line(lambda line: line.startswith("Dashboard:"), timeout=120)
                await chaos(run, plan, http, clock)
                await sim.control.pause()
                deadline = time.monotonic() + 45
                while gaps := await truth_gaps(http, sim):
                    assert time.monotonic() < deadline, f"no convergence: {gaps}\n{run.tail()}"
                    await asyncio.sleep(0.5)
                inputs = await read_from(bootstrap, start, KEYS)
                check_sequences(inputs)
                trades = by_key(inputs, t.TRADES.name)
                for key in KEYS:
                    await check_candles(http, sim, key.split(":", 1)[1], trades[key])
        finally:
            assert run.stop() == 0, run.tail()

    ours = reproducible(latest_by_key(await read_from(bootstrap, tables_start, KEYS)))
    assert {k[0] for k in ours} == {t.PRICES.name, t.BOOKS.name, t.CANDLES.name}
    await check_against_fresh(bootstrap, tmp_path, fresh_id, ours, trades, crashed=app_id)


async def chaos(
    run: RunProcess, plan: list[Kill], http: httpx.AsyncClient, clock: ScaledClock
) -> None:
    """Carry out the kill plan under load. Return once every part is back, CHAOS_S have passed,
    and a whole 1m window has closed since the producer came back (so there is one to compare
    with the exchange's)."""
    began = time.monotonic()
    comebacks = []
    for kill in plan:
        await asyncio.sleep(max(0.0, began + kill.at - time.monotonic()))
        mark = run.mark()
        old = run.kill9(kill.part)
        print(f"{time.monotonic() - began:5.1f}s kill -9 {kill.part} (pid {old})")
        comebacks.append(asyncio.create_task(comeback(run, kill, old, mark, http, clock)))
    back = await asyncio.gather(*comebacks)
    print(f"{time.monotonic() - began:5.1f}s every part is back")
    producer_back = next(ns for kill, ns in zip(plan, back, strict=True) if kill.part == "producer")
    whole = (producer_back // MINUTE_NS + 2) * MINUTE_NS + GRACE_US * 1000 + 2 * NS_PER_S
    until = max(began + CHAOS_S, time.monotonic() + clock.wall_s(whole) - time.time())
    await asyncio.sleep(max(3.0, until - time.monotonic()))


async def check_candles(
    http: httpx.AsyncClient, sim: SimulatorHandle, symbol: str, records: list[Record]
) -> None:
    """Closed 1m candles from the first trade's window on equal the exchange's OHLC, the
    windows the producer's downtime cut trades out of too (settled on the exchange's candle).
    Every window that must be closed by the last trade (its end plus the grace period passed)
    is."""
    trades = [r for r in records if isinstance(r, Trade)]
    cut, lost = cut_windows(trades)
    assert cut, f"{symbol}: the producer's downtime lost no trades?"
    print(f"{symbol}: {lost} trades lost while the producer was down, windows {sorted(cut)}")
    since = trades[0].exchange_ts // MINUTE_US * MINUTE_US
    closable = (trades[-1].exchange_ts - GRACE_US) // MINUTE_US * MINUTE_US - MINUTE_US
    deadline = time.monotonic() + 30
    while True:
        answer = await http.get(
            "/api/ohlcv", params={"symbol": symbol, "timeframe": "1m", "limit": 1000}
        )
        candles = msgspec.convert(answer.json()["data"], list[OHLCV])
        closed = {c.open_ts: c for c in candles if c.closed and c.open_ts >= since}
        if set(range(since, closable + 1, MINUTE_US)) <= set(closed):
            break
        assert time.monotonic() < deadline, f"{symbol}: windows not closed: {candles[-5:]}"
        await asyncio.sleep(0.5)
    rows = {r[0] * 1_000_000: r for r in await rest(sim, "OHLC", list[OhlcRow], pair=symbol)}
    compared = [c for _, c in sorted(closed.items())]
    assert any(c.source is CandleSource.AGGREGATED and c.open_ts > since for c in compared), (
        f"{symbol}: no whole window built from trades to compare: {candles[-6:]}, cut {cut}"
    )
    assert any(c.open_ts in cut for c in compared), f"{symbol}: no cut window closed: {cut}"
    for c in compared:
        row = rows[c.open_ts]
        assert [float(x) for x in row[1:5]] == [c.open, c.high, c.low, c.close], (c, row)
        assert float(row[6]) == pytest.approx(c.volume, rel=1e-9, abs=1e-8), (c, row)
        assert row[7] == c.trades, (c, row)


def check_sequences(inputs: list[Fetched]) -> None:
    """Per key and raw topic, one gap-free, duplicate-free run of sequence numbers per producer
    process (two: before and after the kill), and trade ids without a hole inside a run."""
    for topic in (t.TICKER, t.TRADES, t.BOOK, t.OHLC):
        for key, records in by_key(inputs, topic.name).items():
            typed = sequenced(records)
            runs = sequence_runs([r.seq for r in typed])
            assert len(runs) == 2, f"{topic.name} {key}: runs {[(r[0], r[-1]) for r in runs]}"
            ids = [int(r.trade_id) for r in typed if isinstance(r, Trade)]
            if ids:  # the producer loses trades only while it is down: between the runs
                for part in (ids[: len(runs[0])], ids[len(runs[0]) :]):
                    assert part == list(range(part[0], part[0] + len(part))), f"{key} lost trades"


async def check_against_fresh(
    bootstrap: str,
    tmp_path: Path,
    app_id: str,
    want: dict[tuple[str, str], Record],
    trades: dict[str, list[Record]],
    *,
    crashed: str,
) -> None:
    """A processor that never crashed, fed the same input records, writes the same tables.
    On a difference, each differing candle is shown with the trades the input holds for its
    window, so the failure says which of the two processors counted right."""
    start = await end_offsets(bootstrap, TABLES)
    (tmp_path / "fresh").mkdir()
    config = write_config(
        tmp_path / "fresh" / "config.yaml", bootstrap, app_id, stallAfterSeconds=5
    )
    began, port = time.monotonic(), free_port()
    with worker(config, tmp_path / "fresh.log", metrics_port=port) as w:
        while True:
            fetched = await read_from(bootstrap, start, KEYS)
            fresh = reproducible(latest_by_key(fetched))
            if fresh == want:
                print(f"the fresh processor agreed after {time.monotonic() - began:.1f}s")
                return
            assert w.alive(), w.tail()
            if time.monotonic() - began > 90:
                missing = sorted(set(want) - set(fresh))
                extra = sorted(set(fresh) - set(want))
                wrong = [(k, want[k], fresh[k]) for k in want if k in fresh and fresh[k] != want[k]]
                inputs = [window_input(trades, k[1], r) for k, r, _ in wrong[:3]]
                ends = await end_offsets(bootstrap, (t.TRADES,))
                commits = {
                    group: await committed_offsets(bootstrap, group, (t.TRADES,))
                    for group in (crashed, app_id)
                }
                pytest.fail(
                    f"missing {missing[:5]}, extra {extra[:5]}, different {wrong[:3]}, "
                    f"input {inputs}, trades' end offsets {ends}, committed {commits}, "
                    f"the fresh worker's consumer: {await consumer_state(port)}, "
                    f"stalls logged: {stalls(tmp_path)}"
                )
            await asyncio.sleep(2)


def window_input(trades: dict[str, list[Record]], key: str, record: Record) -> str:
    """What the input holds for a candle's window: its trades, distinct trade ids, the newest
    exchange time and how many trades carry it."""
    if not isinstance(record, OHLCV):
        return f"{key}: not a candle"
    exchange_key = ":".join(key.split(":")[:2])
    end = record.open_ts + MINUTE_US if record.timeframe == "1m" else 2**63
    inside = [
        r
        for r in trades.get(exchange_key, [])
        if isinstance(r, Trade) and record.open_ts <= r.exchange_ts < end
    ]
    if not inside:
        return f"{key}: no trades in the input"
    newest = max(r.exchange_ts for r in inside)
    return (
        f"{key}: {len(inside)} trades, {len({r.trade_id for r in inside})} distinct ids, "
        f"newest exchange_ts {newest} on {sum(r.exchange_ts == newest for r in inside)}"
    )


async def consumer_state(port: int) -> list[str]:
    """The fresh worker's `/metrics` lines on its md.trades.v1 partitions and stream buffer."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.HTTPError as exc:
        return [repr(exc)]
    return [
        line
        for line in text.splitlines()
        if line.startswith("marketdata_processor_") and f'topic="{t.TRADES.name}"' in line
    ]


def stalls(tmp_path: Path) -> list[str]:
    """Every `processor.partition_stalled` warning either processor logged."""
    return [
        line
        for name in ("run.log", "fresh.log")
        if (tmp_path / name).exists()
        for line in (tmp_path / name).read_text("utf-8", "replace").splitlines()
        if "processor.partition_stalled" in line
    ]
