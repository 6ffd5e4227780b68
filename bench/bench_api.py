"""Query API under load: REST throughput next to a bare Litestar app, and WebSocket fan-out.

1. REST: `GET /api/prices/BTC-USD` of the query API (read model filled by hand, no Kafka, the rate
   limit raised out of the way) next to a bare Litestar hello-world (`GET /` -> a small dict).
   Each is served by uvicorn (1 worker, the options of `marketdata api`) in its own process, one
   after the other so they never share the CPU, and driven by the same closed-loop load
   generator: C keep-alive HTTP/1.1 connections for D seconds after a 2 s warm-up. Two rounds,
   alternating the order. The machine is small and shared, so the figure that matters is the
   ratio ours/hello-world within one run (target: at least 0.80).
2. WebSocket fan-out: the query API in a uvicorn process whose read model has BTC/USD and which
   publishes a fresh BTC/USD price R times a second into its own hub, from its own event loop.
   N clients (the `websockets` library, all in this process) subscribe to prices BTC/USD on `/ws`
   and count updates and latency (now - the ticker's received_ts, set when it was published).
   A second run makes a share of the clients stall (raw TCP sockets that subscribe, then never
   read) to show that the fan-out closes them while the others keep receiving, and that the
   server's memory (VmRSS) stays bounded. A stalled client is noticed only once the kernel's
   send buffer and uvicorn's 64 KiB write buffer are full, then after the fan-out's 5 s send
   deadline; with Linux's autotuned send buffer (up to net.ipv4.tcp_wmem's max, 4 MiB) that
   takes minutes at these rates, so this run caps the server's SO_SNDBUF (`--stall-sndbuf`).

The load generator is raw asyncio streams by default: httpx's client costs more CPU per request
than the servers measured here, so with httpx the figures are the client's, not the server's
(`--client httpx` to see it; the CPU columns say who is saturated).

    .venv/bin/python bench/bench_api.py [--only rest|ws] [--concurrency 32] [--duration 10]
        [--rounds 2] [--client raw|httpx] [--clients 1000] [--rate 200] [--ws-duration 15]
        [--slow-share 0.1] [--deflate] [--stall-sndbuf 16384] [--stall-user-timeout 0]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import importlib.util
import multiprocessing
import os
import re
import resource
import signal
import socket
import statistics
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Final

import httpx
import msgspec
import uvicorn
import websockets
from litestar import Litestar, get
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from marketdata.config import Settings, load_config
from query_api.app import create_app, server_config
from query_api.state import ApiState
from schemas import topics as t
from schemas.models import PriceTicker

HOST: Final = "127.0.0.1"
WARMUP: Final = 2.0
OUR_PATH: Final = "/api/prices/BTC-USD"
HELLO_PATH: Final = "/"
SUBSCRIBE: Final = b'{"op":"subscribe","channel":"prices","symbols":["BTC/USD"]}'
TCP_ESTABLISHED: Final = 1
STALL_GRACE: Final = 10.0
"""Seconds the stalled run waits past its end for the fan-out to close every stalled client."""
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


# ---- the servers (each runs in a spawned process) -------------------------------------------


def now_us() -> int:
    return time.time_ns() // 1000


def ticker(symbol: str, bid: float, seq: int, ts: int) -> PriceTicker:
    return PriceTicker(
        exchange="kraken",
        symbol=symbol,
        bid=bid,
        bid_qty=1.5,
        ask=bid + 0.1,
        ask_qty=2.25,
        last=bid,
        volume_24h=1234.5,
        vwap_24h=bid - 10,
        high_24h=bid + 500,
        low_24h=bid - 500,
        change_24h=12.5,
        change_pct_24h=0.02,
        exchange_ts=ts,
        received_ts=ts,
        price_precision=1,
        seq=seq,
    )


def bench_settings() -> Settings:
    """The default settings with a rate limit no benchmark reaches (one client IP here)."""
    md = load_config(None, {}).market_data
    service = md.service.model_copy(update={"rate_limit_per_minute": 1_000_000_000})
    return Settings(md.model_copy(update={"service": service}))


def filled_api() -> ApiState:
    api = ApiState(bench_settings(), always_ready=True)
    ts = now_us()
    for symbol, bid in (("BTC/USD", 65_000.0), ("ETH/USD", 3_000.0), ("SOL/USD", 150.0)):
        api.model.apply(t.PRICES.name, ticker(symbol, bid, 1, ts))
    return api


async def publish_prices(api: ApiState, rate: float) -> None:
    """R fresh BTC/USD tickers a second through the read model into the hub, like the feed."""
    loop = asyncio.get_running_loop()
    period, seq, due = 1.0 / rate, 1, loop.time()
    while True:
        due += period
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:  # more than a second behind: do not burst to catch up
            due = loop.time()
        seq += 1
        for update in api.model.apply(
            t.PRICES.name, ticker("BTC/USD", 65_000.0 + seq % 1000 / 10, seq, now_us())
        ):
            api.hub.publish(update)


@get("/", sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"hello": "world"}


def _serve(app: Litestar, port_out: Connection, sndbuf: int = 0, user_timeout_ms: int = 0) -> None:
    """Serve `app` with the uvicorn options of `marketdata api` on a port chosen by the kernel.

    `sndbuf` and `user_timeout_ms` (0: the kernel's defaults) set SO_SNDBUF and TCP_USER_TIMEOUT
    on the listening socket; accepted connections inherit them.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # proto IPPROTO_TCP, as `uvicorn --port` binds: asyncio sets TCP_NODELAY on accepted sockets
    # only then; with proto 0 Nagle holds each response body for the client's delayed ACK (40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    if user_timeout_ms:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
    sock.bind((HOST, 0))
    port_out.send(sock.getsockname()[1])
    port_out.close()
    config = server_config(app, backlog=4096, timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])


def serve_hello(port_out: Connection) -> None:
    _serve(Litestar(route_handlers=[hello]), port_out)


def serve_api(port_out: Connection, rate: float, sndbuf: int = 0, user_timeout_ms: int = 0) -> None:
    api = filled_api()
    app = create_app(api)
    if rate > 0:
        tasks: list[asyncio.Task[None]] = []

        async def start_publisher() -> None:
            tasks.append(asyncio.create_task(publish_prices(api, rate), name="bench-publisher"))

        async def stop_publisher() -> None:
            for task in tasks:
                task.cancel()

        app.on_startup.append(start_publisher)
        app.on_shutdown.append(stop_publisher)
    _serve(app, port_out, sndbuf, user_timeout_ms)


@dataclass(frozen=True)
class Server:
    pid: int
    port: int


def _wait_ready(proc: BaseProcess, port: int, path: str) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(trust_env=False, timeout=2) as client:
        while True:
            if not proc.is_alive():
                raise RuntimeError(f"server exited with {proc.exitcode}")
            with contextlib.suppress(httpx.HTTPError):
                answer = client.get(f"http://{HOST}:{port}{path}")
                if answer.status_code == 200:
                    return
                raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready on port {port} after 30 s")
            time.sleep(0.1)


def _stop(proc: BaseProcess) -> None:
    if proc.is_alive():
        proc.terminate()
        proc.join(8)
    if proc.is_alive():
        proc.kill()
        proc.join(5)


@contextlib.contextmanager
def server(target: Callable[..., None], *args: object, ready_path: str) -> Iterator[Server]:
    """Start `target` in a spawned process; yields once `ready_path` answers 200; always stops."""
    ctx = multiprocessing.get_context("spawn")
    port_in, port_out = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(port_out, *args), daemon=True)
    try:
        proc.start()
        port_out.close()
        if not port_in.poll(60):
            raise RuntimeError("server did not report its port")
        port = int(port_in.recv())
        _wait_ready(proc, port, ready_path)
        assert proc.pid is not None
        yield Server(proc.pid, port)
    finally:
        port_in.close()
        port_out.close()
        _stop(proc)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def percentile(ordered: list[float] | list[int], q: float) -> float:
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


# ---- 1. REST ------------------------------------------------------------------------------------


@dataclass
class Load:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0


_LENGTH: Final = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def _content_length(head: bytes) -> int:
    length = _LENGTH.search(head)
    if length is None:
        raise ValueError("no content-length")
    return int(length[1])


async def _raw_worker(port: int, path: str, warm_until: float, stop_at: float, out: Load) -> None:
    """One keep-alive HTTP/1.1 connection, one request at a time."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < stop_at:
            if reader is None or writer is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError:
                    out.errors += 1
                    await asyncio.sleep(0.05)
                    continue
            started = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                await reader.readexactly(_content_length(head))
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                out.errors += 1
                writer.close()
                reader = writer = None
                continue
            done = time.perf_counter()
            if started >= warm_until and done <= stop_at:
                if status == 200:
                    out.ok += 1
                    out.latencies.append(done - started)
                else:
                    out.errors += 1
    finally:
        if writer is not None:
            writer.close()


async def _httpx_worker(
    client: httpx.AsyncClient, url: str, warm_until: float, stop_at: float, out: Load
) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            answer = await client.get(url)
            status = answer.status_code
        except httpx.HTTPError:
            out.errors += 1
            continue
        done = time.perf_counter()
        if started >= warm_until and done <= stop_at:
            if status == 200:
                out.ok += 1
                out.latencies.append(done - started)
            else:
                out.errors += 1


async def drive(srv: Server, path: str, kind: str, concurrency: int, duration: float) -> Load:
    """C closed-loop connections for WARMUP + D seconds; counts only the last D seconds."""
    out = Load()
    start = time.perf_counter()
    warm_until, stop_at = start + WARMUP, start + WARMUP + duration

    async def sample_cpu() -> None:
        await asyncio.sleep(warm_until - time.perf_counter())
        server0, client0 = cpu_seconds(srv.pid), time.process_time()
        await asyncio.sleep(stop_at - time.perf_counter())
        out.server_cpu = (cpu_seconds(srv.pid) - server0) / duration
        out.client_cpu = (time.process_time() - client0) / duration

    jobs: list[Awaitable[None]] = [sample_cpu()]
    if kind == "raw":
        jobs += [_raw_worker(srv.port, path, warm_until, stop_at, out) for _ in range(concurrency)]
        await asyncio.gather(*jobs)
    else:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False) as client:
            url = f"http://{HOST}:{srv.port}{path}"
            jobs += [
                _httpx_worker(client, url, warm_until, stop_at, out) for _ in range(concurrency)
            ]
            await asyncio.gather(*jobs)
    out.latencies.sort()
    return out


def bench_rest(concurrency: int, duration: float, rounds: int, kind: str) -> None:
    loadgen = "raw asyncio streams" if kind == "raw" else f"httpx {version('httpx')} AsyncClient"
    print(
        f"REST throughput: uvicorn {version('uvicorn')} (h11 or httptools: "
        f"{_http_impl()}, asyncio loop), 1 worker, litestar {version('litestar')}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"  load: {loadgen}, {concurrency} keep-alive connections, "
        f"{WARMUP:.0f} s warm-up + {duration:.0f} s, one server at a time"
    )
    targets: dict[str, tuple[Callable[..., None], tuple[object, ...], str]] = {
        "hello-world": (serve_hello, (), HELLO_PATH),
        "ours": (serve_api, (0.0,), OUR_PATH),
    }
    ratios = []
    for n in range(rounds):
        order = ["hello-world", "ours"] if n % 2 == 0 else ["ours", "hello-world"]
        rates: dict[str, float] = {}
        for name in order:
            target, args, path = targets[name]
            with server(target, *args, ready_path=path) as srv:
                load = asyncio.run(drive(srv, path, kind, concurrency, duration))
            rates[name] = load.ok / duration
            print(
                f"  round {n + 1}  {name:<11}  GET {path:<20} {rates[name]:>8,.0f} req/s  "
                f"p50 {percentile(load.latencies, 0.50) * 1e3:6.2f} ms  "
                f"p99 {percentile(load.latencies, 0.99) * 1e3:6.2f} ms  errors {load.errors}  "
                f"CPU server {load.server_cpu:4.0%} load-gen {load.client_cpu:4.0%}"
            )
        ratios.append(rates["ours"] / rates["hello-world"])
        print(f"  round {n + 1}  ratio ours/hello-world: {ratios[-1]:.2f}")
    verdict = "meets" if statistics.mean(ratios) >= 0.8 else "below"
    print(
        f"  mean ratio ours/hello-world over {rounds} rounds: {statistics.mean(ratios):.2f} "
        f"({verdict} the 0.80 target)"
    )


def _http_impl() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


# ---- 2. WebSocket fan-out -----------------------------------------------------------------------


class _Tick(msgspec.Struct):
    received_ts: int = 0


class _Message(msgspec.Struct):
    type: str
    data: _Tick | None = None


_decode = msgspec.json.Decoder(_Message).decode


@dataclass
class Fanout:
    measuring: bool = False
    ending: bool = False
    counts: list[int] = field(default_factory=list)
    latencies_us: array.array[int] = field(default_factory=lambda: array.array("q"))
    failed: int = 0
    closes: Counter[str] = field(default_factory=Counter)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _reader(
    uri: str, index: int, stats: Fanout, gate: asyncio.Semaphore, deflate: bool
) -> ClientConnection | None:
    async with gate:
        try:
            ws = await connect(
                uri,
                compression="deflate" if deflate else None,
                ping_interval=None,
                open_timeout=60,
                close_timeout=5,
                proxy=None,
            )
            await ws.recv()  # {"type": "connection", ...}
            await ws.send(SUBSCRIBE.decode())
            while _decode(await ws.recv()).type != "subscribed":
                pass
        except (OSError, TimeoutError, websockets.WebSocketException):
            stats.failed += 1
            return None
    stats.tasks.append(asyncio.create_task(_read(ws, index, stats)))
    return ws


async def _read(ws: ClientConnection, index: int, stats: Fanout) -> None:
    latencies, counts = stats.latencies_us, stats.counts
    try:
        async for raw in ws:
            message = _decode(raw)
            if message.type == "update" and stats.measuring and message.data is not None:
                counts[index] += 1
                latencies.append(now_us() - message.data.received_ts)
    except ConnectionClosed as exc:
        if not stats.ending:
            rcvd = exc.rcvd
            stats.closes[f"{rcvd.code} {rcvd.reason}" if rcvd else "no close frame"] += 1


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else struct.pack("!BBH", 0x81, 0xFE, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _stalled(port: int, gate: asyncio.Semaphore, stats: Fanout) -> socket.socket | None:
    """A client that upgrades, subscribes, then never reads: a raw socket with a small buffer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    async with gate:
        try:
            await loop.sock_connect(sock, (HOST, port))
            await loop.sock_sendall(sock, request)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await loop.sock_recv(sock, 512)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                head += chunk
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
            await loop.sock_sendall(sock, _masked_text_frame(SUBSCRIBE))
        except OSError:
            stats.failed += 1
            sock.close()
            return None
    return sock


def _tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


async def _drain_close_code(sock: socket.socket) -> str:
    """Read what a stalled client never read; the close frame the server sent, if any."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    try:
        async with asyncio.timeout(2):
            while chunk := await loop.sock_recv(sock, 1 << 16):
                data += chunk
    except TimeoutError:
        pass
    except OSError:
        return "reset"
    pos = 0
    while pos + 2 <= len(data):
        opcode, size = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if size == 126:
            size, pos = int.from_bytes(data[pos : pos + 2]), pos + 2
        elif size == 127:
            size, pos = int.from_bytes(data[pos : pos + 8]), pos + 8
        if opcode == 0x8 and size >= 2:
            return f"{int.from_bytes(data[pos : pos + 2])} {data[pos + 2 : pos + size].decode()}"
        pos += size
    return "no close frame"


_METRIC: Final = re.compile(r"^marketdata_api_(\w+?)(?:_total)? (\S+)$", re.MULTILINE)


async def server_metrics(port: int) -> dict[str, float]:
    """The server's fan-out counters, from its own `/metrics`."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        text = (await client.get(f"http://{HOST}:{port}/metrics")).text
    return {name: float(value) for name, value in _METRIC.findall(text)}


def server_sockets(port: int) -> tuple[int, int]:
    """The server's established TCP connections on `port`, and the bytes in their kernel send
    queues (written by the server, not yet taken by the peer), from /proc/net/tcp."""
    count = queued = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
                queued += int(fields[4].split(":")[0], 16)
    return count, queued


def _closed_by_hub(metrics: dict[str, float]) -> int:
    return int(metrics.get("fanout_slow_closed", 0) + metrics.get("fanout_timed_out", 0))


async def run_fanout(
    srv: Server, clients: int, stalled: int, duration: float, deflate: bool
) -> None:
    uri = f"ws://{HOST}:{srv.port}/ws"
    readers = clients - stalled
    stats = Fanout(counts=[0] * readers)
    rss_start = rss_mib(srv.pid)
    gate = asyncio.Semaphore(50)
    connecting = time.perf_counter()
    conns_or_none, socks_or_none = await asyncio.gather(
        asyncio.gather(*(_reader(uri, i, stats, gate, deflate) for i in range(readers))),
        asyncio.gather(*(_stalled(srv.port, gate, stats) for _ in range(stalled))),
    )
    conns = [c for c in conns_or_none if c is not None]
    socks = [s for s in socks_or_none if s is not None]
    subscribed_at = time.perf_counter()
    connect_time = subscribed_at - connecting
    await asyncio.sleep(1.0)  # let the server settle before measuring its memory
    rss_connected = rss_mib(srv.pid)
    before = await server_metrics(srv.port)
    origin = time.perf_counter()
    stats.measuring = True
    server0, client0 = cpu_seconds(srv.pid), time.process_time()
    rss_peak, timeline = rss_connected, [(0.0, 0)]  # (s since subscribing, closed by the hub)

    async def poll(period: float) -> None:
        await asyncio.sleep(period)
        closed = _closed_by_hub(await server_metrics(srv.port)) - _closed_by_hub(before)
        timeline.append((time.perf_counter() - subscribed_at, closed))

    while (left := origin + duration - time.perf_counter()) > 0:
        await poll(min(0.5, left))
        rss_peak = max(rss_peak, rss_mib(srv.pid))
    stats.measuring = False
    elapsed = time.perf_counter() - origin
    after = await server_metrics(srv.port)
    server_cpu = (cpu_seconds(srv.pid) - server0) / elapsed
    client_cpu = (time.process_time() - client0) / elapsed
    rss_end = rss_mib(srv.pid)
    tcp_open, tcp_queued = server_sockets(srv.port)
    closed_in_window = timeline[-1][1]
    grace = time.perf_counter() + STALL_GRACE
    while socks and timeline[-1][1] < len(socks) and time.perf_counter() < grace:
        await poll(0.5)  # the readers keep reading, no longer counted
    tcp_grace, queued_grace = server_sockets(srv.port)

    stats.ending = True
    stalled_ended = sum(_tcp_state(s) != TCP_ESTABLISHED for s in socks)
    close_frames = Counter(await asyncio.gather(*(_drain_close_code(s) for s in socks)))
    for sock in socks:
        sock.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(15):
            await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    await asyncio.sleep(1.5)
    rss_after = rss_mib(srv.pid)
    tcp_after, _ = server_sockets(srv.port)

    published = int(after["fanout_published"] - before["fanout_published"])
    counts = sorted(stats.counts) or [0]
    latencies = sorted(stats.latencies_us)
    received = sum(counts)
    delta = {k: int(after.get(k, 0) - before.get(k, 0)) for k in after}
    print(
        f"  connected: {len(conns)} reading + {len(socks)} stalled clients, subscribed in "
        f"{connect_time:.1f} s ({stats.failed} failed)"
    )
    print(f"  published: {published} updates in {elapsed:.1f} s ({published / elapsed:.0f}/s)")
    print(
        f"  received per reading client: min {counts[0]}, median "
        f"{statistics.median(counts):.0f}, max {counts[-1]}; delivery ratio "
        f"{received / max(1, published * len(stats.counts)):.1%} ({received:,} updates, "
        f"{received / elapsed:,.0f}/s; prices conflate, so a client that falls behind gets the "
        f"newest price instead of every one)"
    )
    print(
        f"  latency publish -> client: p50 {percentile(latencies, 0.5) / 1e3:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) / 1e3:.1f} ms, "
        f"max {percentile(latencies, 1.0) / 1e3:.1f} ms ({len(latencies):,} updates)"
    )
    print(
        f"  server fan-out: delivered {delta['fanout_delivered']:,}, conflated "
        f"{delta['fanout_conflated']:,}, closed as too slow (mailbox full) "
        f"{delta['fanout_slow_closed']}, closed on the send deadline {delta['fanout_timed_out']}, "
        f"disconnected {delta['fanout_disconnected']}"
    )
    closed_readers = sum(stats.closes.values())
    print(
        f"  reading clients closed by the server: {closed_readers}"
        + (f" {dict(stats.closes)}" if closed_readers else "")
    )
    if socks:
        first = next((f"{t:.1f} s" for t, n in timeline if n > 0), "-")
        last = next((f"{t:.1f} s" for t, n in timeline if n >= len(socks)), "-")
        print(
            f"  stalled clients: the fan-out closed {closed_in_window}/{len(socks)} within the "
            f"run, {timeline[-1][1]}/{len(socks)} with up to {STALL_GRACE:.0f} s more (first "
            f"{first}, all {last} after subscribing); seen by the stalled clients: "
            f"{stalled_ended} TCP connections ended, close frames in what they never read: "
            f"{dict(close_frames)}"
        )
    grace_note = (
        f"; {tcp_grace} open ({queued_grace / 2**20:.1f} MiB) once the stalled were closed"
        if socks
        else ""
    )
    print(
        f"  server TCP connections at the end: {tcp_open} open, {tcp_queued / 2**20:.1f} MiB in "
        f"kernel send queues{grace_note}; {tcp_after} open after the clients left"
    )
    print(
        f"  server RSS: start {rss_start:.1f} MiB, all connected {rss_connected:.1f} MiB, "
        f"peak {rss_peak:.1f} MiB, end {rss_end:.1f} MiB, after the clients left "
        f"{rss_after:.1f} MiB"
    )
    print(f"  CPU: server {server_cpu:.0%}, clients (this process) {client_cpu:.0%}")


def bench_ws(
    clients: int,
    rate: float,
    duration: float,
    slow_share: float,
    deflate: bool,
    sndbuf: int,
    user_timeout_ms: int,
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < clients + 256:
        raise SystemExit(f"open-files limit {hard} is too low for {clients} clients")
    compression = "permessage-deflate" if deflate else "no compression"
    print(
        f"WebSocket fan-out: /ws prices BTC/USD, {rate:.0f} updates/s published inside the server, "
        f"{clients} clients (websockets {version('websockets')}, {compression}), "
        f"{duration:.0f} s per run"
    )
    print(" all clients reading (kernel socket defaults):")
    with server(serve_api, rate, ready_path="/health/live") as srv:
        asyncio.run(run_fanout(srv, clients, 0, duration, deflate))
    stalled = round(clients * slow_share)
    if stalled:
        knobs = [
            f"SO_SNDBUF {sndbuf}" if sndbuf else "",
            f"TCP_USER_TIMEOUT {user_timeout_ms} ms" if user_timeout_ms else "",
        ]
        print(
            f" {stalled} of them stalled (never read), "
            f"server socket: {', '.join(k for k in knobs if k) or 'kernel defaults'}:"
        )
        with server(serve_api, rate, sndbuf, user_timeout_ms, ready_path="/health/live") as srv:
            asyncio.run(run_fanout(srv, clients, stalled, duration, deflate))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=["rest", "ws"], help="run one of the two benchmarks")
    parser.add_argument("--concurrency", type=int, default=32, help="REST connections")
    parser.add_argument("--duration", type=float, default=10.0, help="REST seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="REST rounds (order alternates)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="REST load gen")
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients")
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s published")
    parser.add_argument("--ws-duration", type=float, default=15.0, help="WebSocket seconds")
    parser.add_argument("--slow-share", type=float, default=0.1, help="share of stalled clients")
    parser.add_argument("--deflate", action="store_true", help="clients offer permessage-deflate")
    parser.add_argument(
        "--stall-sndbuf",
        type=int,
        default=16384,
        help="SO_SNDBUF of the server in the stalled run (0: kernel autotuning, up to "
        "net.ipv4.tcp_wmem's max, 4 MiB: a stalled client then goes unnoticed for minutes)",
    )
    parser.add_argument(
        "--stall-user-timeout",
        type=int,
        default=0,
        help="TCP_USER_TIMEOUT (ms) of the server in the stalled run (0: kernel default)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped too
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, everything on {HOST}")
    if args.only in (None, "rest"):
        bench_rest(args.concurrency, args.duration, args.rounds, args.client)
    if args.only in (None, "ws"):
        bench_ws(
            args.clients,
            args.rate,
            args.ws_duration,
            args.slow_share,
            args.deflate,
            args.stall_sndbuf,
            args.stall_user_timeout,
        )


if __name__ == "__main__":
    main()
