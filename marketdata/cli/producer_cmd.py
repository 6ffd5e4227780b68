"""`marketdata producer --exchange kraken`: publish one exchange's market data to Kafka."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import new_registry, serve_metrics
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
        help="serve /metrics here (default: service.metricsPort; 0 = off)",
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
    port = serve_metrics(
        registry, settings.service.metrics_port if args.metrics_port is None else args.metrics_port
    )
    if port:
        log.info("metrics.serving", url=f"http://127.0.0.1:{port}/metrics")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_producer(
            settings,
            args.exchange,
            bootstrap,
            registry,
            kraken_adapter_factory(exchange),
            stop,
        )

    asyncio.run(main())
    return 0
