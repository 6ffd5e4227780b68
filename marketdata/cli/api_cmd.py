"""`marketdata api`: the query API (REST, `/ws`, the SignalR hub) over the table topics."""

from __future__ import annotations

import argparse
import socket
from typing import Final

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.config import Settings
from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import new_registry

log = get_logger("marketdata.api")

SEND_BUFFER_BYTES: Final = 64 * 1024
USER_TIMEOUT_MS: Final = 10_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the tables over REST, WebSocket and SignalR")
    api.add_argument("--host", help="interface (default service.host)")
    api.add_argument("--port", type=int, help="port (default service.port)")
    api.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only this subcommand serves HTTP

    from query_api.app import create_app, server_config  # noqa: PLC0415
    from query_api.control import KafkaControl  # noqa: PLC0415
    from query_api.readmodel.feed import Feed  # noqa: PLC0415
    from query_api.state import ApiState  # noqa: PLC0415

    settings = load_settings(args)
    configure_logging(settings.service.log_level, settings.service.log_format, part="api")
    bootstrap = require_bootstrap(settings)
    registry = new_registry("api")
    api = ApiState(settings, registry=registry, control=KafkaControl(bootstrap))
    api.feed = Feed(
        bootstrap,
        api.model,
        api.hub.publish,
        registry,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        book_lookback_ms=book_lookback_ms(settings),
    )
    host = args.host or settings.service.host
    port = settings.service.port if args.port is None else args.port
    log.info("api.starting", url=f"http://{host}:{port}", bootstrap=bootstrap)
    config = server_config(create_app(api))
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])
    return 0


def book_lookback_ms(settings: Settings) -> int:
    """How far back the API reads md.book.v1: twice the longest `bookSnapshotMs` of the venues
    (a book that changes gets a snapshot at most that long after its last one). A venue with
    them off (0) has its books served by the book table; 0 when every venue does."""
    exchanges = settings.market_data.exchanges.enabled().values()
    return 2 * max((ex.book_snapshot_ms for ex in exchanges), default=0)


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's socket, with what a fan-out server needs that uvicorn does not set: a bounded
    send buffer (a client that stops reading blocks a send within seconds, so the send deadline
    closes it, instead of the kernel buffering megabytes) and TCP_USER_TIMEOUT (the kernel drops
    a peer that acknowledges nothing for 10 s, so a stalled client cannot hold a socket)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    sock.bind(address)
    return sock
