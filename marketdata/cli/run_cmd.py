"""`marketdata run`: bring the system up on this machine with one command.

Kafka (configured, Docker, or the local broker), every topic, then the parts as supervised child
processes with prefixed logs: the Kraken simulator (offline default), the Kraken producer and the
stream processors.
`--live` points the producer at Kraken's real endpoints instead (keys from the environment).
Later parts (processors, API) join the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from marketdata.cli.common import default_state_dir, load_settings, progress
from marketdata.cli.supervise import Child, Supervisor
from marketdata.config import Settings
from marketdata.kafka.admin import TopicDriftError, ensure_topics
from marketdata.kafka.broker import broker
from marketdata.kafka.local import LocalKafkaError, free_port
from marketdata.kafka.runtime import KafkaRuntimeError

SIM_KEY_ENV = "MARKETDATA_SIM_KRAKEN_API_KEY"
SIM_SECRET_ENV = "MARKETDATA_SIM_KRAKEN_API_SECRET"  # noqa: S105 - a variable's name


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run", help="start everything locally: Kafka, simulator, producer, processors"
    )
    run.add_argument(
        "--live",
        action="store_true",
        help="use Kraken's real endpoints instead of the local simulator",
    )
    run.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="stop again as soon as everything is up (smoke tests, timing)",
    )
    run.add_argument("--ready-timeout", type=float, default=120.0)
    run.set_defaults(func=_run)


def _child_config(settings: Settings, bootstrap: str, sim_port: int | None) -> dict[str, Any]:
    """The configuration the children run with: the user's, pointed at this run's broker (and
    simulator). Secrets never go into the file: they are `${VAR}` references to the child's env."""
    doc = settings.redacted_dump()
    md = doc["marketData"]
    md["kafka"]["bootstrapServers"] = bootstrap
    if sys.stderr.isatty() and md["service"]["logFormat"] == "auto":
        md["service"]["logFormat"] = "console"  # children write to our pipe, people read it
    if md["service"]["logLevel"] in ("WARNING", "ERROR"):
        # `run` knows a part is up from its lifecycle events (info level): keep those.
        md["service"]["logLevel"] = "INFO"
    md["service"]["apiKeys"] = [
        f"${{MARKETDATA_RUN_API_KEY_{i}}}" for i, _ in enumerate(settings.service.api_keys)
    ]
    for name, exchange in md["exchanges"].items():
        if exchange is None:
            continue
        exchange["apiKeyFile"] = exchange["secretKeyFile"] = None
        exchange["apiKey"] = f"${{MARKETDATA_RUN_{name.upper()}_KEY:-}}"
        exchange["secretKey"] = f"${{MARKETDATA_RUN_{name.upper()}_SECRET:-}}"
    if sim_port is not None and md["exchanges"].get("kraken") is not None:
        kraken = md["exchanges"]["kraken"]
        kraken["wsUrl"] = f"ws://127.0.0.1:{sim_port}/v2"
        kraken["wsAuthUrl"] = f"ws://127.0.0.1:{sim_port}/v2-auth"
        kraken["restUrl"] = f"http://127.0.0.1:{sim_port}"
    return doc


def _child_env(settings: Settings, simulated: bool) -> dict[str, str]:
    from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET  # noqa: PLC0415

    env = {
        f"MARKETDATA_RUN_API_KEY_{i}": k.get_secret_value()
        for i, k in enumerate(settings.service.api_keys)
    }
    for name, exchange in settings.exchanges.enabled().items():
        if simulated and name == "kraken":
            env["MARKETDATA_RUN_KRAKEN_KEY"] = os.environ.get(SIM_KEY_ENV) or DEFAULT_API_KEY
            env["MARKETDATA_RUN_KRAKEN_SECRET"] = (
                os.environ.get(SIM_SECRET_ENV) or DEFAULT_API_SECRET
            )
        elif exchange.api_key and exchange.secret_key:
            env[f"MARKETDATA_RUN_{name.upper()}_KEY"] = exchange.api_key.get_secret_value()
            env[f"MARKETDATA_RUN_{name.upper()}_SECRET"] = exchange.secret_key.get_secret_value()
    return env


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    started = time.monotonic()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    state = default_state_dir().parent / ".state" / "run"  # beside .kafka: one place per checkout
    state.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor()
    try:
        with broker(settings.kafka, state_dir=default_state_dir(), progress=progress) as kafka:
            try:
                results = asyncio.run(
                    ensure_topics(
                        kafka.bootstrap, replication_factor=settings.kafka.replication_factor
                    )
                )
                created = sum(1 for r in results if r.action.value == "created")
                progress(f"{len(results)} topics ready ({created} created)")
                simulated = not args.live and settings.simulator.enabled
                sim_port = _start_simulator(supervisor, settings) if simulated else None
                config = state / "config.yaml"
                child_config = _child_config(settings, kafka.bootstrap, sim_port)
                config.write_text(yaml.safe_dump(child_config, sort_keys=False), "utf-8")
                parts = _Parts(supervisor, settings, config, simulated, stop, args.ready_timeout)
                parts.producer()
                processor_metrics = parts.processor()
                api_url = parts.api()
                _print_ready(
                    kafka.bootstrap, kafka.source.value, sim_port, time.monotonic() - started
                )
                print(f"Processor: metrics http://127.0.0.1:{processor_metrics}/metrics")
                print(
                    f"API: {api_url}/api/prices  (OpenAPI {api_url}/schema, WebSocket "
                    f"{api_url.replace('http', 'ws')}/ws, "
                    f"SignalR {api_url}{settings.signalr.hub_path})"
                )
                print(f"Dashboard: {api_url}/", flush=True)
                if not args.exit_when_ready:
                    stop.wait()
                progress("stopping")
            finally:
                supervisor.stop()  # the parts stop before the broker they use
    except (KafkaRuntimeError, LocalKafkaError, TopicDriftError, TimeoutError) as exc:
        supervisor.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()
    return 0


def _start_simulator(supervisor: Supervisor, settings: Settings) -> int:
    sim = settings.simulator
    port = sim.port or free_port()
    argv = ["simulate", "kraken", "--host", sim.host, "--port", str(port)]
    argv += ["--rate", str(sim.events_per_second), "--seed", str(sim.seed)]
    argv += ["--symbols", *sim.symbols, *[a for f in sim.faults for a in ("--fault", f)]]
    supervisor.start(Child("simulator", argv))
    _wait_http(f"http://127.0.0.1:{port}/0/public/Time", 60)
    progress(f"Kraken simulator on ws://127.0.0.1:{port}/v2")
    return port


class _Parts:
    """Starts the producer, the processor and the API in order, each once the previous is up."""

    def __init__(
        self,
        supervisor: Supervisor,
        settings: Settings,
        config: Path,
        simulated: bool,
        stop: threading.Event,
        timeout: float,
    ) -> None:
        self._supervisor, self._settings, self._config = supervisor, settings, config
        self._env = _child_env(settings, simulated)
        self._stop, self._timeout = stop, timeout

    def _start(self, name: str, argv: list[str], *marks: str) -> None:
        """Start a part; with `marks`, wait until a line of its log contains one of them."""
        event = threading.Event()
        self._supervisor.start(
            Child(
                name,
                ["--config", str(self._config), *argv],
                env=self._env,
                on_line=lambda line: event.set() if any(m in line for m in marks) else None,
            )
        )
        if marks:
            _await(event, self._stop, self._timeout, f"the {name} did not start")

    def producer(self) -> None:
        subscribed = ('"state": "subscribed"', "state=subscribed")  # JSON or console logs
        self._start("producer", ["producer", "--exchange", "kraken"], *subscribed)

    def processor(self) -> int:
        port = free_port()
        self._start("processor", ["processor", "--metrics-port", str(port)], "processor.assigned")
        return port

    def api(self) -> str:
        port = self._settings.service.port or free_port()
        self._start("api", ["api", "--port", str(port)])
        url = f"http://{self._settings.service.host}:{port}"
        _wait_http(f"{url}/health/ready", self._timeout)
        return url


def _await(ready: threading.Event, stop: threading.Event, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if stop.is_set():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f}s (see its log above)")


def _print_ready(bootstrap: str, source: str, sim_port: int | None, seconds: float) -> None:
    """What runs where (the last lines, printed once everything answers, are the API's)."""
    print(f"Kafka ({source}): {bootstrap}")
    if sim_port is not None:
        print(
            f"Kraken simulator: ws://127.0.0.1:{sim_port}/v2  "
            f"(control http://127.0.0.1:{sim_port}/_sim/state)"
        )
    print(
        "Producer: kraken, publishing md.ticker.v1 md.trades.v1 md.book.v1 md.ohlc.v1 "
        "md.balances.v1 md.status.v1 md.raw.v1"
    )
    print(f"ready in {seconds:.1f}s; Ctrl-C stops everything", flush=True)
