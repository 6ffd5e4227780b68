"""`marketdata simulate kraken`: run the protocol-faithful Kraken simulator until Ctrl-C.

Flags override the configuration's `simulator` section, which overrides the built-in defaults.
The URLs go to stdout once the server listens (one per line, `name url`, for scripts); progress
and logs go to stderr. The API secret is never taken from the command line (it would show in the
process list): it comes from $MARKETDATA_SIM_KRAKEN_API_SECRET, else the documented public test
secret in `simulator.config`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from marketdata.cli.common import load_settings, progress

API_KEY_ENV = "MARKETDATA_SIM_KRAKEN_API_KEY"
API_SECRET_ENV = "MARKETDATA_SIM_KRAKEN_API_SECRET"  # noqa: S105 - the variable's name


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = sub.add_parser(
        "simulate",
        help="run a protocol-faithful exchange simulator",
        description="Run a local exchange that speaks the venue's real protocol (offline default "
        "of `make run`, peer of the contract tests, load source of the benchmarks).",
    )
    venues = simulate.add_subparsers(dest="venue", required=True, metavar="VENUE")
    kraken = venues.add_parser(
        "kraken",
        help="Kraken Spot: WS v2 public (/v2), private (/v2-auth) and REST, on one port",
    )
    kraken.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    kraken.add_argument("--port", type=int, help="port, 0 = any free port (default from config)")
    kraken.add_argument(
        "--symbols", nargs="+", metavar="SYMBOL", help="pairs, e.g. BTC/USD ETH/USD"
    )
    kraken.add_argument(
        "--rate", type=float, metavar="EVENTS_PER_S", help="market events per second"
    )
    kraken.add_argument("--seed", type=int, help="seed of the market model")
    kraken.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:PARAM][@EVERY]",
        help="arm a fault at start (repeatable): drop[:code], stall:SECONDS, malformed, "
        "truncated, oversized:MB, corrupt_checksum:SYMBOL, skip_book_update:SYMBOL, "
        "duplicate_trade:SYMBOL, rate_limit:CALLS, http429:CALLS, refuse:SECONDS; "
        "@EVERY re-arms it every EVERY seconds",
    )
    kraken.add_argument("--api-key", help=f"API key clients must send (default ${API_KEY_ENV})")
    kraken.add_argument(
        "--rate-tier",
        choices=("starter", "intermediate", "pro"),
        default="intermediate",
        help="Kraken REST call-counter tier (default intermediate: max 20, -0.5/s)",
    )
    kraken.add_argument(
        "--balance-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="simulated account activity on the balances channel (0 = none)",
    )
    kraken.set_defaults(func=_kraken)


def _kraken(args: argparse.Namespace) -> int:
    # Imported here: the other subcommands (and their start-up time) do not need the simulator.
    from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimulatorConfig  # noqa: PLC0415
    from simulator.faults import FaultError  # noqa: PLC0415
    from simulator.instruments import UnknownSymbolError  # noqa: PLC0415
    from simulator.server import SimulatorHandle, serve  # noqa: PLC0415

    sim = load_settings(args).simulator
    try:
        config = SimulatorConfig(
            host=args.host or sim.host,
            port=sim.port if args.port is None else args.port,
            seed=sim.seed if args.seed is None else args.seed,
            events_per_second=sim.events_per_second if args.rate is None else args.rate,
            symbols=tuple(args.symbols or sim.symbols),
            faults=(*sim.faults, *args.fault),
            api_key=args.api_key or os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY,
            api_secret=os.environ.get(API_SECRET_ENV) or DEFAULT_API_SECRET,
            rate_tier=args.rate_tier,
            balance_update_seconds=args.balance_interval,
        )
    except (FaultError, UnknownSymbolError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def ready(handle: SimulatorHandle) -> None:
        print(f"ws      {handle.ws_url}", flush=True)
        print(f"ws-auth {handle.ws_auth_url}", flush=True)
        print(f"rest    {handle.rest_url}", flush=True)
        print(f"control {handle.rest_url}/_sim", flush=True)
        progress(
            f"simulating Kraken {' '.join(config.symbols)} at {config.events_per_second:g} "
            f"events/s (seed {config.seed}); Ctrl-C stops"
        )

    try:
        asyncio.run(serve(config, on_ready=ready))
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress("simulator stopped")
    return 0
