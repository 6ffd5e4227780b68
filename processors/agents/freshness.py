"""Freshness and the dead man's switch: alerts when a feed goes stale or a producer goes silent.

Every agent reports the data it sees; producers' status heartbeats come from `md.status.v1`. A
timer checks ages against the configured TTLs. Alerts go to the compacted `md.alerts.v1`, keyed
`source:kind`, raised once per transition and cleared (`active: false`) when data returns.
At start the monitor learns which alerts are still active from `md.alerts.v1` itself, so an
alert raised before a restart is cleared by the first data after it.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from faust.types import StreamT

from marketdata.kafka.clients import make_consumer
from processors.freshness import DataType, FreshnessMonitor, alert_key, ttls_from
from processors.runtime import Context, log, now_us
from schemas import topics as t
from schemas.codec import DecodeError
from schemas.models import Alert, ConnectionStatus


class Freshness:
    """The pure monitor plus publication of what it decides."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        cfg = ctx.settings.processors.freshness
        ttls = {k: v * cfg.stale_after_ttls for k, v in ttls_from(ctx.settings.cache).items()}
        self.monitor = FreshnessMonitor(ttls, cfg.heartbeat_timeout_seconds)

    async def publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            await self._ctx.publish(t.ALERTS, alert_key(alert), alert)
            self._ctx.metrics.alerts.labels(alert.kind, str(alert.active).lower()).inc()
            log.warning(
                "alert.raised" if alert.active else "alert.cleared",
                source=alert.source,
                kind=alert.kind,
                message=alert.message,
            )

    async def seen(self, exchange: str, symbol: str | None, data_type: DataType) -> None:
        if alerts := self.monitor.seen(exchange, symbol, data_type, now_us()):
            await self.publish(alerts)


async def _active_alerts(ctx: Context, bootstrap: str) -> list[Alert]:
    """The alerts `md.alerts.v1` holds as active (latest value per key), read once at start."""
    consumer = make_consumer(bootstrap, group_id=None)
    await consumer.start()
    latest: dict[bytes, Alert] = {}
    try:
        tps = [TopicPartition(t.ALERTS.name, p) for p in range(t.ALERTS.partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning()
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    try:
                        latest[r.key] = ctx.codec.decode_as(r.value, Alert)
                    except DecodeError:
                        continue
    finally:
        await consumer.stop()
    return [a for a in latest.values() if a.active]


def register(ctx: Context, fresh: Freshness, bootstrap: str | None) -> None:
    app = ctx.app
    interval = ctx.settings.processors.freshness.check_interval_seconds

    @app.agent(ctx.topic(t.STATUS), name="status")
    async def status(stream: StreamT[bytes]) -> None:
        async for event in ctx.events(stream):
            record = await ctx.decode(event, ConnectionStatus)
            if record is None:
                continue
            ctx.observe("status", record.received_ts)
            await fresh.publish(fresh.monitor.heartbeat(record, now_us()))

    @app.timer(interval, name="freshness-check")  # type: ignore[untyped-decorator]
    async def check() -> None:
        await fresh.publish(fresh.monitor.check(now_us()))

    if bootstrap is not None:

        @app.task  # type: ignore[untyped-decorator]
        async def restore_active() -> None:
            try:
                active = await _active_alerts(ctx, bootstrap)
            except Exception as exc:
                log.warning("alerts.restore_failed", error=repr(exc))
                return
            fresh.monitor.restore_active(active)
            log.info("alerts.restored", active=len(active))
