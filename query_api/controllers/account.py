"""The account over REST: balances and positions valued at live prices."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from query_api.dto import BalancesAnswer, PositionsAnswer
from query_api.errors import PROBLEMS
from query_api.state import Api

Exchange = Annotated[str | None, QueryParameter(description="only this exchange", max_length=32)]


class AccountController(Controller):
    path = "/api"
    tags = ["account"]

    @get(
        "/balance",
        responses=PROBLEMS,
        summary="Balances per asset (what the execution engine checks before an order)",
    )
    async def balance(self, api: Api, exchange: Exchange = None) -> BalancesAnswer:
        rows = [b for _, b in sorted(api.model.balances.items()) if exchange in (None, b.exchange)]
        newest = max((b.received_ts for b in rows), default=0)
        age = api.age(newest) if rows else 0.0
        return BalancesAnswer(
            data=rows,
            count=len(rows),
            ts=max((b.exchange_ts for b in rows), default=0),
            age_seconds=age,
            stale=not rows or age > api.settings.cache.balance_ttl_seconds,
        )

    @get("/positions", responses=PROBLEMS, summary="Positions valued at live prices, with P&L")
    async def positions(self, api: Api, exchange: Exchange = None) -> PositionsAnswer:
        rows = [p for _, p in sorted(api.model.positions.items()) if exchange in (None, p.exchange)]
        values = [p.value for p in rows if p.value is not None]
        newest = max((p.received_ts for p in rows), default=0)
        age = api.age(newest) if rows else 0.0
        return PositionsAnswer(
            data=rows,
            count=len(rows),
            total_value=sum(values) if values else None,
            ts=max((p.exchange_ts for p in rows), default=0),
            age_seconds=age,
            stale=not rows or age > api.settings.cache.balance_ttl_seconds,
        )
