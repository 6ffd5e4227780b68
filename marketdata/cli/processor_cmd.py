"""`marketdata processor`: run the stream processors (a faust worker) until Ctrl-C.

Prices, books, candles and indicators, positions and freshness alerts, from the raw topics to the
table topics (processors/app.py). Several workers with the same configuration share the work by
partition (one consumer group: the app id).
"""

from __future__ import annotations

import argparse
import logging
import os

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.health import Health, bound_url, serve
from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import new_registry

log = get_logger("marketdata.processor")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    processor = sub.add_parser(
        "processor", help="turn raw facts into the table topics (faust worker)"
    )
    processor.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics and /health/* here (default: service.metricsPort; 0 = off)",
    )
    processor.add_argument(
        "--metrics-host", default=None, help="interface of that endpoint (service.metricsHost)"
    )
    processor.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import faust  # noqa: PLC0415 - only this subcommand needs faust

    from processors.app import create_app  # noqa: PLC0415

    settings = load_settings(args)
    configure_logging(settings.service.log_level, settings.service.log_format, part="processor")
    if settings.service.log_level != "DEBUG":
        for noisy in ("faust", "mode", "aiokafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # "producer buffer full" is backpressure during a backlog (history backfill, catching
        # up after a restart): expected, and visible as lag in the metrics.
        logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    bootstrap = require_bootstrap(settings)
    registry = new_registry("processor")
    health = Health("processor")
    ctx = create_app(settings, bootstrap, registry, health=health)  # registers the checks
    port = settings.service.metrics_port if args.metrics_port is None else args.metrics_port
    if port:
        host = args.metrics_host or settings.service.metrics_host
        url = bound_url(serve(registry, health, host, port), host)  # a daemon thread: it ends
        log.info("metrics.serving", url=f"{url}/metrics", health=f"{url}/health/ready")
    log.info("processor.starting", app_id=settings.processors.app_id, bootstrap=bootstrap)
    worker = faust.Worker(
        ctx.app,
        loglevel=settings.service.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
        stdout=open(os.devnull, "w"),  # noqa: SIM115 - faust's banner and terminal codes
    )
    worker.execute_from_commandline()  # exits the process once stopped by a signal
