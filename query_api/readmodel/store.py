"""The read model: the table topics held in memory, latest value per key, for REST and WebSocket.

Pure (no Kafka, no clock of its own): `apply` takes a decoded record from a topic and returns the
`Update`s to fan out to WebSocket clients, none when nothing changed (an older record by its
per-key sequence number or exchange time). Reads are dictionary lookups. Candles keep the newest
`MAX_CANDLES` per series and trades the newest `MAX_TRADES` per symbol, so memory is bounded by
the number of instruments, never by time.

Prices have two sources. The processors' table (`md.prices.v1`) warms the model and is the
record; the tickers and trades the API reads itself move a price one Kafka hop sooner, by the
same reduction (`schemas.prices`), which does not depend on the order in which the ticker and
trade topics are read: the API and the processor end on the same price. A table record older
than the API's price, or of the same moment, is not pushed (the table's copy of a price the API
showed gives it the table's `seq`); one newer is (the API was behind). A client sees each price
once. A price the API derived itself carries `seq` 0; one taken from the table the table's.

Books likewise: the model builds each book from md.book.v1 with the processors' own code
(`schemas.books`), starting at a snapshot (the producer publishes a live book whole every
`bookSnapshotMs`), and publishes the same top-n record the book table will hold one hop later
(`seq` is the deltas since the snapshot, as there). Building a record costs a sort, so `apply`
only marks the book changed and `flush_books` makes the records, once per fetched batch. The
book table (`md.books.v1`) serves a book until the model saw its snapshot, and is ignored for it
from then on: the model reads the same updates the table is made of, sooner.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from query_api.ws.fanout import Update
from schemas import topics as t
from schemas.books import BookState, apply_update, top_of
from schemas.models import (
    OHLCV,
    Alert,
    Balance,
    BookUpdate,
    ConnectionStatus,
    IndicatorSet,
    OrderBook,
    Position,
    PriceTicker,
    Record,
    Subscription,
    Trade,
)
from schemas.prices import PriceParts, price_of, same_price, with_ticker, with_trade

MAX_CANDLES: Final = 1000
MAX_TRADES: Final = 500


@dataclass(slots=True)
class Series:
    """One symbol's candles of one timeframe, ordered by open time."""

    open_times: list[int] = field(default_factory=list)
    candles: dict[int, OHLCV] = field(default_factory=dict)

    def put(self, candle: OHLCV) -> None:
        if candle.open_ts not in self.candles:
            bisect.insort(self.open_times, candle.open_ts)
            if len(self.open_times) > MAX_CANDLES:
                del self.candles[self.open_times.pop(0)]
        self.candles[candle.open_ts] = candle

    def last(self, limit: int, since: int | None = None) -> list[OHLCV]:
        times = self.open_times
        if since is not None:
            times = times[bisect.bisect_left(times, since) :]
        return [self.candles[ts] for ts in times[-limit:]]


@dataclass(slots=True)
class ReadModel:
    prices: dict[str, PriceTicker] = field(default_factory=dict)
    price_parts: dict[str, PriceParts] = field(default_factory=dict)
    """What each price is made of (`schemas.prices`), for the raw tickers and trades."""
    prices_from_table: set[str] = field(default_factory=set)
    """Prices taken from the table as they are: the table's price stands in for the ticker."""
    books: dict[str, OrderBook] = field(default_factory=dict)
    candles: dict[str, Series] = field(default_factory=dict)  # exchange:symbol:timeframe
    indicators: dict[str, IndicatorSet] = field(default_factory=dict)  # exchange:symbol:timeframe
    balances: dict[str, Balance] = field(default_factory=dict)  # exchange:asset
    positions: dict[str, Position] = field(default_factory=dict)  # exchange:asset
    status: dict[str, ConnectionStatus] = field(default_factory=dict)  # exchange
    alerts: dict[str, Alert] = field(default_factory=dict)  # source:kind
    trades: dict[str, deque[Trade]] = field(default_factory=dict)  # exchange:symbol
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # exchange:symbol
    applied: int = 0
    book_top_n: int = 25
    """Levels per side of the books the model makes (the processors' `bookTopN`)."""
    book_states: dict[str, BookState] = field(default_factory=dict)  # exchange:symbol
    changed_books: set[str] = field(default_factory=set)
    """Books built here that changed since the last `flush_books`."""

    def apply(self, topic: str, record: Record) -> list[Update]:
        """Take one record of a table topic, a ticker or a trade; the updates to push (a trade
        is one, and a second when it moves its symbol's price)."""
        updates: list[Update] = []
        for handler in _HANDLERS.get((topic, type(record)), ()):
            update = handler(self, record)
            if update is not None:
                updates.append(update)
        if updates:
            self.applied += 1
        return updates

    def flush_books(self) -> list[Update]:
        """The book records of the books built here that changed since the last call (call it
        after each batch of records: one record per book however many updates it took)."""
        updates: list[Update] = []
        for key in self.changed_books:
            state = self.book_states[key]
            book = top_of(state, self.book_top_n, seq=state.updates)
            if not _new_book(self.books.get(key), book):
                continue  # while warming, the table's record may be ahead until updates catch up
            self.books[key] = book
            updates.append(Update("book", key, book.symbol, None, book))
        self.changed_books.clear()
        return updates

    def symbols(self) -> set[str]:
        """Every `exchange:symbol` the model knows of."""
        return set(self.prices) | set(self.books) | set(self.trades)


def _newer(current: Record | None, record: Record) -> bool:
    """Records carrying a per-key sequence number never go back (a replay after a restart)."""
    seq = getattr(record, "seq", 0)
    return current is None or not seq or seq >= getattr(current, "seq", 0)


def _set_price(model: ReadModel, key: str, price: PriceTicker) -> Update:
    model.prices[key] = price
    return Update("prices", key, price.symbol, None, price)


def _price(model: ReadModel, r: Record) -> Update | None:
    """A record of the processors' price table."""
    assert isinstance(r, PriceTicker)
    key = f"{r.exchange}:{r.symbol}"
    current = model.prices.get(key)
    if current is not None:
        if r.exchange_ts < current.exchange_ts:
            return None  # the API's own price is ahead (or a replay)
        if r.exchange_ts == current.exchange_ts:
            if same_price(r, current):
                model.prices[key] = r  # the table caught up with the API's own price: take its seq
                return None
            if key not in model.prices_from_table:
                # The processor read the tickers and trades of this moment in another order and
                # published a price on the way: the reduction ends where the API's own ends.
                return None
    parts = model.price_parts.get(key, PriceParts())
    newer_trade = parts.trade if parts.trade and parts.trade.exchange_ts > r.exchange_ts else None
    model.price_parts[key] = taken = PriceParts(ticker=r, trade=newer_trade)
    model.prices_from_table.add(key)
    price = price_of(taken)
    assert price is not None
    return _set_price(model, key, r if price is r else msgspec.structs.replace(price, seq=0))


def _moved(model: ReadModel, key: str, parts: PriceParts | None) -> Update | None:
    """The parts after a raw ticker or trade (None: it was late); the price if it changed."""
    if parts is None:
        return None
    model.price_parts[key] = parts
    price = price_of(parts)
    current = model.prices.get(key)
    if price is None or (current is not None and same_price(current, price)):
        return None
    return _set_price(model, key, msgspec.structs.replace(price, seq=0))


def _ticker(model: ReadModel, r: Record) -> Update | None:
    """A raw ticker: the price one hop before the table has it."""
    assert isinstance(r, PriceTicker)
    key = f"{r.exchange}:{r.symbol}"
    parts = with_ticker(model.price_parts.get(key, PriceParts()), r)
    if parts is not None:
        model.prices_from_table.discard(key)  # the price is made of a ticker again
    return _moved(model, key, parts)


def _trade_price(model: ReadModel, r: Record) -> Update | None:
    """A raw trade newer than its symbol's price moves `last`, as the table will."""
    assert isinstance(r, Trade)
    key = f"{r.exchange}:{r.symbol}"
    return _moved(model, key, with_trade(model.price_parts.get(key, PriceParts()), r))


def _new_book(current: OrderBook | None, book: OrderBook) -> bool:
    """Whether `book` changes what is shown: not older by exchange time (its `seq` restarts at
    every snapshot, so it cannot order books), and not the same record again."""
    return current is None or (book.exchange_ts >= current.exchange_ts and book != current)


def _book(model: ReadModel, r: Record) -> Update | None:
    """A record of the processors' book table: the book until the model builds its own."""
    assert isinstance(r, OrderBook)
    key = f"{r.exchange}:{r.symbol}"
    if key in model.book_states:
        return None  # built here from the updates the table is made of
    if not _new_book(model.books.get(key), r):
        return None
    model.books[key] = r
    return Update("book", key, r.symbol, None, r)


def _book_update(model: ReadModel, r: Record) -> Update | None:
    """A raw book update: applied to the book built here (from its first snapshot on)."""
    assert isinstance(r, BookUpdate)
    key = f"{r.exchange}:{r.symbol}"
    state = apply_update(model.book_states.get(key), r)
    if state is not None:  # None: a delta before the first snapshot seen (the table serves it)
        model.book_states[key] = state
        model.changed_books.add(key)
    return None


def _candle(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, OHLCV)
    key = f"{r.exchange}:{r.symbol}:{r.timeframe}"
    series = model.candles.get(key)
    if series is None:
        series = model.candles[key] = Series()
    current = series.candles.get(r.open_ts)
    if current is not None and current.closed and not r.closed:
        return None  # a forming version after the close (a replay)
    series.put(r)
    return Update("candles", key, r.symbol, r.timeframe, r)


def _indicators(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, IndicatorSet)
    key = f"{r.exchange}:{r.symbol}:{r.timeframe}"
    current = model.indicators.get(key)
    if current is not None and r.open_ts < current.open_ts:
        return None
    model.indicators[key] = r
    return Update("indicators", key, r.symbol, r.timeframe, r)


def _balance(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, Balance)
    key = f"{r.exchange}:{r.asset}"
    if not _newer(model.balances.get(key), r):
        return None
    model.balances[key] = r
    return Update("balances", key, None, None, r)


def _position(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, Position)
    key = f"{r.exchange}:{r.asset}"
    if not _newer(model.positions.get(key), r):
        return None
    model.positions[key] = r
    return Update("positions", key, None, None, r)


def _status(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, ConnectionStatus)
    if not _newer(model.status.get(r.exchange), r):
        return None
    model.status[r.exchange] = r
    return Update("status", r.exchange, None, None, r)


def _alert(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, Alert)
    key = f"{r.source}:{r.kind}"
    model.alerts[key] = r
    return Update("alerts", key, r.symbol, None, r)


def _trade(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, Trade)
    key = f"{r.exchange}:{r.symbol}"
    trades = model.trades.get(key)
    if trades is None:
        trades = model.trades[key] = deque(maxlen=MAX_TRADES)
    trades.append(r)
    return Update("trades", key, r.symbol, None, r)


def _subscription(model: ReadModel, r: Record) -> Update | None:
    assert isinstance(r, Subscription)
    model.subscriptions[f"{r.exchange}:{r.symbol}"] = r
    return None


_Handler = Callable[[ReadModel, Record], Update | None]
_HANDLERS: Final[dict[tuple[str, type[Record]], tuple[_Handler, ...]]] = {
    (t.PRICES.name, PriceTicker): (_price,),
    (t.TICKER.name, PriceTicker): (_ticker,),
    (t.BOOKS.name, OrderBook): (_book,),
    (t.BOOK.name, BookUpdate): (_book_update,),
    (t.CANDLES.name, OHLCV): (_candle,),
    (t.INDICATORS.name, IndicatorSet): (_indicators,),
    (t.BALANCES.name, Balance): (_balance,),
    (t.POSITIONS.name, Position): (_position,),
    (t.STATUS.name, ConnectionStatus): (_status,),
    (t.ALERTS.name, Alert): (_alert,),
    (t.TRADES.name, Trade): (_trade, _trade_price),
    (t.CONTROL.name, Subscription): (_subscription,),
}

TOPICS: Final = (
    t.PRICES,
    t.BOOKS,
    t.CANDLES,
    t.INDICATORS,
    t.BALANCES,
    t.POSITIONS,
    t.STATUS,
    t.ALERTS,
    t.CONTROL,
)
"""The compacted topics the model reads from the beginning (tickers and trades: only the recent
tail, `query_api.readmodel.feed.TAILS`; book updates: the last `bookSnapshotMs` twice over)."""
