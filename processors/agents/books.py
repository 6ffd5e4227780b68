"""Order books per `exchange:symbol` from `md.book.v1`, top-N to the compacted `md.books.v1`.

A snapshot resets a book, deltas apply, the book keeps its depth (`schemas.books`). A burst of
deltas is conflated: at most one full book per `bookConflateMs` on the update path, and a timer
publishes the last state of a burst once its window has passed.
"""

from __future__ import annotations

from faust.types import StreamT

from processors.agents.freshness import Freshness
from processors.freshness import DataType
from processors.runtime import Context, now_us
from processors.tables import StateTable
from schemas import topics as t
from schemas.books import BookState, apply_update, due, flush_due, mark_published, top_of
from schemas.models import BookUpdate


def register(ctx: Context, fresh: Freshness) -> None:
    cfg = ctx.settings.processors
    conflate_us = cfg.book_conflate_ms * 1000
    table = StateTable(ctx.app, "books_by_symbol", BookState, ctx.writes)
    ctx.on_rebalance.append(table.forget)

    async def publish(state: BookState, now: int) -> None:
        mark_published(state, now)
        book = top_of(state, cfg.book_top_n, seq=state.updates)
        key = f"{state.exchange}:{state.symbol}"
        await ctx.publish(t.BOOKS, key, book)

    @ctx.app.agent(ctx.topic(t.BOOK), name="books")
    async def books(stream: StreamT[bytes]) -> None:
        async def handle(update: BookUpdate, offset: int) -> None:
            key = f"{update.exchange}:{update.symbol}".encode()
            state = table.get(key)
            if state is not None and offset <= state.last_offset:
                ctx.metrics.replays.labels("books").inc()
                return
            state = apply_update(state, update)
            if state is None:
                return  # a delta before any snapshot
            state.last_offset = offset
            now = now_us()
            if due(state, now, conflate_us):
                await publish(state, now)
            table.put(key, state)
            ctx.observe("books", update.received_ts)
            await fresh.seen(update.exchange, update.symbol, DataType.BOOK)

        await ctx.consume(stream, BookUpdate, "books", handle)

    @ctx.app.timer(max(cfg.book_conflate_ms / 1000, 0.05), name="books-flush")  # type: ignore[untyped-decorator]
    async def flush() -> None:
        now = now_us()
        states = [s for k in table.owned_keys() if (s := table.get(k)) is not None]
        for state in flush_due(states, now, conflate_us):
            await publish(state, now)
        ctx.metrics.table_size.labels("books_by_symbol").set(len(states))
