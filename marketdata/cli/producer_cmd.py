"""`marketdata producer --exchange kraken`: publish one exchange's market data to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.health import Health, HealthServer, Heartbeat, bound_url, serve
from marketdata.logs import configure_logging, get_logger
from marketdata.loops import loop_factory
from marketdata.metrics import new_registry
from producers.exchanges.kraken.adapter import kraken_adapter_factory
from producers.runner import run_producer

log = get_logger("marketdata.producer")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    producer = sub.add_parser("producer", help="connect to an exchange and publish to Kafka")
    producer.add_argument("--exchange", choices=("kraken",), default="kraken")
    producer.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics and /health/* here (default: service.metricsPort; 0 = off)",
    )
    producer.add_argument(
        "--metrics-host", default=None, help="interface of that endpoint (service.metricsHost)"
    )
    producer.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    configure_logging(settings.service.log_level, settings.service.log_format, part="producer")
    exchange = settings.exchanges.enabled().get(args.exchange)
    if exchange is None:
        print(
            f"error: exchange {args.exchange} is not enabled in the configuration", file=sys.stderr
        )
        return 2
    bootstrap = require_bootstrap(settings)
    registry = new_registry("producer")
    health = Health("producer")
    loop_beat = Heartbeat()
    health.add_live("event_loop", loop_beat.check)
    port = settings.service.metrics_port if args.metrics_port is None else args.metrics_port
    host = args.metrics_host or settings.service.metrics_host
    server: HealthServer | None = None
    if port:
        server = serve(registry, health, host, port)
        url = bound_url(server, host)
        log.info("metrics.serving", url=f"{url}/metrics", health=f"{url}/health/ready")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        beating = asyncio.create_task(loop_beat.run(), name="health-heartbeat")
        try:
            await run_producer(
                settings,
                args.exchange,
                bootstrap,
                registry,
                kraken_adapter_factory(exchange),
                stop,
                health,
            )
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    try:
        asyncio.run(main(), loop_factory=loop_factory())
    finally:
        if server is not None:
            server.close()
    return 0
