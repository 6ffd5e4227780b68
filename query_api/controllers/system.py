"""Feed status, live subscriptions, health and metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from litestar import Controller, HttpMethod, Request, Response, get, route
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from marketdata.metrics import exposition
from query_api.auth import authorized
from query_api.dto import FeedStatus, Liveness, StatusAnswer, SubscribeAnswer, SubscribeRequest
from query_api.errors import PROBLEMS, bad_request, unauthorized, unavailable
from query_api.state import Api, ApiState
from query_api.symbols import SymbolError, canonical
from schemas.models import Subscription, SubscriptionAction, SubscriptionStatus

ANSWER_WAIT_SECONDS: Final = 5.0


def _feed_status(api: ApiState, exchange: str) -> FeedStatus:
    status = api.model.status[exchange]
    model, cache = api.model, api.settings.cache

    def freshest(received: list[int]) -> float | None:
        return api.age(max(received)) if received else None

    ages = {
        "prices": freshest(
            [p.received_ts for p in model.prices.values() if p.exchange == exchange]
        ),
        "books": freshest([b.received_ts for b in model.books.values() if b.exchange == exchange]),
        "trades": freshest(
            [q[-1].received_ts for k, q in model.trades.items() if k.startswith(exchange) and q]
        ),
        "candles": freshest(
            [
                s.candles[s.open_times[-1]].received_ts
                for k, s in model.candles.items()
                if k.startswith(f"{exchange}:") and s.open_times
            ]
        ),
    }
    status_age = api.age(status.received_ts)
    return FeedStatus(
        exchange=exchange,
        state=status.state.value,
        since=status.since,
        reconnects=status.reconnects,
        circuit=status.circuit.value,
        rate_limit_used=status.rate_limit_used,
        last_message_age_seconds=api.age(status.last_message_ts)
        if status.last_message_ts
        else None,
        status_age_seconds=status_age,
        stale=status_age > cache.status_ttl_seconds,
        detail=status.detail,
        data_age_seconds=ages,
    )


class SystemController(Controller):
    tags = ["system"]

    @get(
        "/api/status",
        responses=PROBLEMS,
        summary="Per exchange: connection, freshness, circuit, rate limits, alerts",
    )
    async def status(self, api: Api) -> StatusAnswer:
        exchanges = [_feed_status(api, name) for name in sorted(api.model.status)]
        active = [a for _, a in sorted(api.model.alerts.items()) if a.active]
        raw = [s for _, s in sorted(api.model.status.items())]
        return StatusAnswer(ready=api.ready, exchanges=exchanges, alerts=active, raw=raw)

    @route(
        "/api/subscribe",
        http_method=[HttpMethod.POST, HttpMethod.DELETE],
        responses=PROBLEMS,
        status_code=HTTP_200_OK,
        summary="Subscribe (POST) or unsubscribe (DELETE) symbols on a live feed",
    )
    async def subscription(
        self, api: Api, request: Request[Any, Any, Any], data: JSONBody[SubscribeRequest]
    ) -> SubscribeAnswer:
        _require_key(api, request)
        action = (
            SubscriptionAction.UNSUBSCRIBE
            if request.method == HttpMethod.DELETE
            else SubscriptionAction.SUBSCRIBE
        )
        return await _control(api, data, action)

    @get("/health/live", include_in_schema=False)
    async def live(self, api: Api) -> Liveness:
        progress = api.feed.progress if api.feed is not None else None
        last = progress.last_record_at if progress else None
        return Liveness(
            status="failing" if progress and progress.error else "ok",
            ready=api.ready,
            uptime_seconds=time.time() - api.started,
            records_applied=progress.applied if progress else api.model.applied,
            records_behind=progress.behind if progress else 0,
            last_record_age_seconds=time.time() - last if last else None,
            websocket_clients=api.hub.clients,
            error=progress.error if progress else None,
        )

    @get("/health/ready", include_in_schema=False)
    async def ready(self, api: Api) -> Response[dict[str, object]]:
        behind = api.feed.progress.behind if api.feed is not None else 0
        body: dict[str, object] = {"ready": api.ready, "records_behind": behind}
        code = HTTP_200_OK if api.ready else HTTP_503_SERVICE_UNAVAILABLE
        return Response(body, status_code=code)

    @get("/metrics", include_in_schema=False)
    async def metrics(self, api: Api) -> Response[bytes]:
        body, content_type = exposition(api.registry)
        return Response(body, media_type=content_type)


def _require_key(api: ApiState, request: Request[Any, Any, Any]) -> None:
    if not authorized(api.settings, request):
        raise unauthorized("changing subscriptions needs an API key (Authorization: Bearer <key>)")


async def _control(
    api: ApiState, request: SubscribeRequest, action: SubscriptionAction
) -> SubscribeAnswer:
    if api.control is None:
        raise unavailable("subscriptions cannot be changed: no Kafka control writer")
    enabled = api.settings.exchanges.enabled()
    if request.exchange not in enabled:
        raise bad_request(
            f"exchange {request.exchange!r} is not enabled; enabled: {', '.join(enabled)}",
            parameter="exchange",
        )
    if not 1 <= len(request.symbols) <= 50:
        raise bad_request("give between 1 and 50 symbols", parameter="symbols")
    try:
        symbols = sorted({canonical(s) for s in request.symbols})
    except SymbolError as exc:
        raise bad_request(str(exc), parameter="symbols") from None
    ts = api.clock()
    for symbol in symbols:
        await api.control(
            Subscription(
                exchange=request.exchange,
                symbol=symbol,
                channels=list(request.channels),
                action=action,
                ts=ts,
                status=SubscriptionStatus.REQUESTED,
                requested_by="api",
            )
        )
    answers = await _answers(api, request.exchange, symbols, ts)
    return SubscribeAnswer(
        exchange=request.exchange,
        requested=symbols,
        subscriptions=[answers[s] for s in symbols if s in answers],
        pending=[s for s in symbols if s not in answers],
    )


async def _answers(
    api: ApiState, exchange: str, symbols: list[str], ts: int
) -> dict[str, Subscription]:
    """The producer's answers (on md.control.v1, read back by the feed) to requests made at ts."""
    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    found: dict[str, Subscription] = {}
    while time.monotonic() < deadline:
        for symbol in symbols:
            record = api.model.subscriptions.get(f"{exchange}:{symbol}")
            if (
                record is not None
                and record.ts >= ts
                and record.status is not SubscriptionStatus.REQUESTED
            ):
                found[symbol] = record
        if len(found) == len(symbols):
            break
        await asyncio.sleep(0.05)
    return found
