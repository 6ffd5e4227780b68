"""The processors' faust app: built from the configuration in `main()`, never at import time.

`create_app` wires the agents (prices, books, candles and indicators, positions, freshness) to
one faust app whose id (`processors.appId`, versioned) names the consumer group and every
changelog topic. State lives in memory and in the changelogs (recovered on start); every table
value remembers the source offsets it has applied, so the records a restart replays (those after
the last commit) are recognised and skipped: outputs never double count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import faust
from prometheus_client import CollectorRegistry

from marketdata.config import Settings
from marketdata.health import Check, Health, Heartbeat
from processors import delivery
from processors.agents import books, candles, positions, prices
from processors.agents import freshness as freshness_agent
from processors.consumption import Consumption
from processors.fetchwait import limit_fetch_wait
from processors.metrics import ProcessorMetrics
from processors.runtime import Context, log
from processors.tables import WriteBehind
from schemas.codec import Codec


def create_app(
    settings: Settings,
    bootstrap: str,
    registry: CollectorRegistry,
    *,
    on_fatal: Callable[[str, BaseException], NoReturn] | None = None,
    restore_alerts: bool = True,
    health: Health | None = None,
) -> Context:
    cfg = settings.processors
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        cfg.app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        store="memory://",
        datadir=str(cfg.data_dir),
        topic_partitions=3,
        topic_replication_factor=settings.kafka.replication_factor,
        topic_allow_declare=True,
        web_enabled=False,
        key_serializer="raw",  # tables hold bytes: msgpack of our own Structs
        value_serializer="raw",
        producer_acks=-1,
        producer_linger_ms=settings.kafka.linger_ms,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A worker that dies (kill -9, OOM) keeps its partitions until its session expires;
        # 10 s instead of faust's 60 s bounds how long its replacement waits to resume.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        table_standby_replicas=0,
        stream_recovery_delay=0.0,
        stream_ack_exceptions=False,
    )
    limit_fetch_wait(app, settings.kafka.fetch_max_wait_ms, settings.processors.fetch_min_bytes)
    delivery.install()
    ctx = Context(settings, app, Codec(), ProcessorMetrics.on(registry))
    ctx.writes = WriteBehind(cfg.changelog_flush_ms / 1000)
    if on_fatal is not None:
        ctx.on_fatal = on_fatal

    if cfg.changelog_flush_ms:

        @app.task  # type: ignore[untyped-decorator]
        async def _flush_tables() -> None:
            """A quiet stream's last records are acknowledged too. Not a faust timer: timers end
            as the worker starts to stop, and its rebalance and its stop both wait for every
            record taken to be acknowledged, which this does (it runs until the app's own
            tasks are cancelled, after that wait)."""
            while True:
                await asyncio.sleep(cfg.changelog_flush_ms / 1000)
                ctx.writes.flush()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, *_: Any, **__: Any) -> None:
        for forget in ctx.on_rebalance:
            forget()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any = (), *_: Any, **__: Any) -> None:
        if assigned:  # the first (empty) assignment comes before the group is joined
            log.info("processor.assigned", partitions=len(assigned))

    if health is not None:
        watch_health(app, health)
    watch_consumption(ctx, registry)
    fresh = freshness_agent.Freshness(ctx)
    price_book = prices.Prices(ctx, fresh)
    prices.register(ctx, price_book)
    candles.register(ctx, candles.Candles(ctx, price_book, fresh), fresh)
    books.register(ctx, fresh)
    positions.register(ctx, price_book, fresh)
    freshness_agent.register(ctx, fresh, bootstrap if restore_alerts else None)
    return ctx


STALL_CHECK_S = 5.0


def watch_consumption(ctx: Context, registry: CollectorRegistry) -> Consumption:
    """Per-partition consumer state on `/metrics`, and a warning for a partition whose records
    wait untaken (`processor.partition_stalled`, once per stall)."""
    app = ctx.app
    consumption = Consumption(app, stall_after_s=ctx.settings.processors.stall_after_seconds)
    consumption.register(registry)

    @app.timer(STALL_CHECK_S, name="stall-watch")  # type: ignore[untyped-decorator]
    async def _stall_watch() -> None:
        try:
            ends: dict[Any, int] | None = await consumption.end_offsets()
        except Exception as exc:  # the broker is away: the last fetch's ends will do
            log.debug("stall_watch.end_offsets_failed", error=repr(exc))
            ends = None
        consumer: Any = app.consumer  # faust's Consumer: its flow state is not on ConsumerT
        for state in consumption.stalled(ends):
            log.warning(
                "processor.partition_stalled",
                topic=state.topic,
                partition=state.partition,
                read_offset=state.read,
                committed_offset=state.committed,
                end_offset=state.end,
                waiting=state.waiting,
                fetching=state.fetching,
                stream_buffered=state.buffered,
                flow_active=consumer.flow_active,
                flow_suspended=consumer.suspend_flow.is_set(),
                unacked=len(consumer.unacked),
                held_for_flush=ctx.writes.held,
            )

    return consumption


@dataclass(slots=True)
class _Membership:
    generation: int | None = None
    """Of the last rebalance that completed; -1 before the worker has joined its group."""
    partitions: int = 0
    beating: bool = False


def watch_health(app: faust.App, health: Health) -> None:
    """Live once the worker is up (its first partition assignment, before the tables are
    recovered) and while its loop turns: a task the app owns beats. Ready once it is a member of
    its consumer group and a rebalance has completed (tables recovered, streams resumed), and not
    while the next one runs. A member given no partitions (more workers than partitions) is ready
    as well: a hot standby."""
    beat = Heartbeat()
    membership = _Membership()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any = (), *_: Any, **__: Any) -> None:
        membership.partitions = len(assigned)
        if not membership.beating:  # the app cancels it when it stops
            membership.beating = True
            app.add_future(beat.run())

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def _completed(sender: Any, *_: Any, **__: Any) -> None:
        membership.generation = app.consumer_generation_id

    def member() -> Check:
        generation = membership.generation
        if generation is None or generation < 0:
            return Check(ok=False, detail="joining the consumer group")
        if app.rebalancing:
            return Check(ok=False, detail=f"rebalancing (after generation {generation})")
        return Check(
            ok=True,
            detail=f"generation {generation}: {membership.partitions} partitions assigned",
        )

    health.add_live("event_loop", beat.check)
    health.add_ready("consumer_group", member)
