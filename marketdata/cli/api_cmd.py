"""`marketdata api`: the query API (REST, `/ws`, the SignalR hub) over the table topics."""

from __future__ import annotations

import argparse

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import new_registry

log = get_logger("marketdata.api")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the tables over REST, WebSocket and SignalR")
    api.add_argument("--host", help="interface (default service.host)")
    api.add_argument("--port", type=int, help="port (default service.port)")
    api.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only this subcommand serves HTTP

    from query_api.app import create_app  # noqa: PLC0415
    from query_api.control import KafkaControl  # noqa: PLC0415
    from query_api.readmodel.feed import Feed  # noqa: PLC0415
    from query_api.state import ApiState  # noqa: PLC0415

    settings = load_settings(args)
    configure_logging(settings.service.log_level, settings.service.log_format, part="api")
    bootstrap = require_bootstrap(settings)
    registry = new_registry("api")
    api = ApiState(settings, registry=registry, control=KafkaControl(bootstrap))
    api.feed = Feed(bootstrap, api.model, api.hub.publish, registry)
    host = args.host or settings.service.host
    port = settings.service.port if args.port is None else args.port
    log.info("api.starting", url=f"http://{host}:{port}", bootstrap=bootstrap)
    uvicorn.run(
        create_app(api),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,  # SignalR pings in its protocol; signalrcore chokes on WS pings
        lifespan="on",
    )
    return 0
