"""`marketdata run`: bring the system up on this machine with one command.

Today that is the broker (configured, Docker, or the local one) and every topic; later parts
(simulator, producer, processors, API) join the same supervised run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time

from marketdata.cli.common import default_state_dir, load_settings, progress
from marketdata.kafka.admin import TopicDriftError, ensure_topics
from marketdata.kafka.broker import broker
from marketdata.kafka.local import LocalKafkaError
from marketdata.kafka.runtime import KafkaRuntimeError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="start everything locally (Kafka and the topics today)")
    run.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="stop again as soon as everything is up (smoke tests, timing)",
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    started = time.monotonic()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with broker(settings.kafka, state_dir=default_state_dir(), progress=progress) as kafka:
            results = asyncio.run(
                ensure_topics(kafka.bootstrap, replication_factor=settings.kafka.replication_factor)
            )
            created = sum(1 for r in results if r.action.value == "created")
            progress(f"{len(results)} topics ready ({created} created)")
            print(f"Kafka ({kafka.source.value}): {kafka.bootstrap}")
            print(f"ready in {time.monotonic() - started:.1f}s; Ctrl-C stops everything")
            sys.stdout.flush()
            if not args.exit_when_ready:
                stop.wait()
            progress("stopping")
    except (KafkaRuntimeError, LocalKafkaError, TopicDriftError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
