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
from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import new_registry, serve_metrics

log = get_logger("marketdata.processor")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    processor = sub.add_parser(
        "processor", help="turn raw facts into the table topics (faust worker)"
    )
    processor.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics here (default: service.metricsPort; 0 = off)",
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
    port = serve_metrics(
        registry, settings.service.metrics_port if args.metrics_port is None else args.metrics_port
    )
    if port:
        log.info("metrics.serving", url=f"http://127.0.0.1:{port}/metrics")
    ctx = create_app(settings, bootstrap, registry)
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
