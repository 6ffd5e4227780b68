"""`marketdata kafka up|down|status`: a real local Kafka broker (or 3-node cluster) on loopback."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from marketdata.cli.common import default_state_dir, load_settings, progress
from marketdata.kafka.broker import configured_bootstrap, docker_available
from marketdata.kafka.local import LocalKafka, LocalKafkaError, status, stop_cluster
from marketdata.kafka.probe import wait_for_brokers
from marketdata.kafka.runtime import KafkaRuntimeError, resolve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kafka = sub.add_parser("kafka", help="start, stop and inspect the local Kafka broker")
    ksub = kafka.add_subparsers(dest="kafka_cmd", required=True)

    up = ksub.add_parser("up", help="resolve Apache Kafka from Maven Central and start it")
    up.add_argument(
        "--nodes",
        type=int,
        choices=(1, 3),
        default=None,
        help="1 broker, or a 3-broker cluster (RF 3, min.insync.replicas 2)",
    )
    up.add_argument("--port", type=int, default=None, help="first broker port (default: free)")
    up.add_argument(
        "--state-dir",
        type=Path,
        default=default_state_dir(),
        help="folder for data, logs and pids (default: ./.kafka or $MARKETDATA_KAFKA_STATE_DIR)",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=90.0,
        help="seconds to wait for the broker to answer (default 90)",
    )
    up.add_argument(
        "--local",
        action="store_true",
        help="start the local broker even if KAFKA_BOOTSTRAP_SERVERS is set",
    )
    up.set_defaults(func=_up)

    down = ksub.add_parser("down", help="stop exactly the broker processes `kafka up` started")
    down.add_argument("--state-dir", type=Path, default=default_state_dir())
    down.set_defaults(func=_down)

    st = ksub.add_parser(
        "status", help="report the local broker's processes and whether it answers"
    )
    st.add_argument("--state-dir", type=Path, default=default_state_dir())
    st.set_defaults(func=_status)


def _up(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    kafka = settings.kafka
    if not args.local and (bootstrap := configured_bootstrap(kafka, os.environ)):
        print(
            f"Kafka is configured at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS or "
            "kafka.bootstrapServers); nothing started. Use --local to start a local broker anyway."
        )
        try:
            wait_for_brokers(bootstrap, 1, deadline=time.monotonic() + args.timeout)
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(bootstrap)
        return 0
    if not args.local and docker_available():
        print(
            "note: a Docker engine answers; `make run` and the tests would use a container. "
            "`kafka up` starts the local JVM broker, which needs no Docker.",
            file=sys.stderr,
        )
    try:
        runtime = resolve(kafka.local.version, kafka.local.home, progress=progress)
        cluster = LocalKafka(
            runtime,
            args.state_dir,
            nodes=args.nodes or kafka.local.nodes,
            port=args.port if args.port is not None else kafka.local.port,
            heap_mb=kafka.local.heap_mb,
            jit=kafka.local.jit,
            progress=progress,
        )
        state = cluster.start(timeout=args.timeout)
    except (KafkaRuntimeError, LocalKafkaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress(f"logs: {', '.join(n.log for n in state.nodes)}")
    print(state.bootstrap)
    return 0


def _down(args: argparse.Namespace) -> int:
    pids = stop_cluster(args.state_dir)
    if pids:
        print(f"stopped Kafka (pids {', '.join(map(str, pids))})")
    else:
        print(f"no local Kafka running from {args.state_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    state, alive = status(args.state_dir)
    if state is None:
        print(f"no local Kafka recorded in {args.state_dir}")
        return 1
    for node in state.nodes:
        up = "running" if alive.get(node.node_id) else "stopped"
        print(f"node {node.node_id}: pid {node.pid} {up}, 127.0.0.1:{node.port}, log {node.log}")
    try:
        brokers = wait_for_brokers(state.bootstrap, 1, deadline=time.monotonic() + 5)
    except TimeoutError as exc:
        print(f"bootstrap {state.bootstrap}: not answering ({exc})")
        return 1
    print(f"bootstrap {state.bootstrap}: answering, brokers {brokers}, Kafka {state.version}")
    return 0 if all(alive.values()) else 1
