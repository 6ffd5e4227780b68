"""Ask a broker whether it answers, the way a client would: a metadata request, not an open port."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


async def describe_brokers(bootstrap: str, timeout: float = 5.0) -> list[int]:
    """The node ids the cluster reports, via a Metadata/DescribeCluster round trip."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout * 1000),
        client_id="marketdata-probe",
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        info = await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()
    return sorted(int(b["node_id"]) for b in info["brokers"])


def wait_for_brokers(
    bootstrap: str,
    count: int,
    *,
    deadline: float,
    still_running: Callable[[], bool] = lambda: True,
    interval: float = 0.25,
) -> list[int]:
    """Block until `count` brokers are listed; TimeoutError at `deadline` (time.monotonic)."""
    # aiokafka logs every refused connection at ERROR while the broker boots: expected, so hush it.
    quiet = logging.getLogger("aiokafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return _poll(bootstrap, count, deadline, still_running, interval)
    finally:
        quiet.setLevel(previous)


def _poll(
    bootstrap: str,
    count: int,
    deadline: float,
    still_running: Callable[[], bool],
    interval: float,
) -> list[int]:
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if not still_running():
            raise TimeoutError(f"broker process exited before {bootstrap} answered")
        try:
            brokers = asyncio.run(describe_brokers(bootstrap, timeout=3.0))
        except (KafkaError, OSError, TimeoutError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if len(brokers) >= count:
                return brokers
            last_error = f"{len(brokers)} of {count} brokers registered"
        time.sleep(interval)
    raise TimeoutError(
        f"Kafka at {bootstrap} did not answer a metadata request in time ({last_error})"
    )
