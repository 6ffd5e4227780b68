"""Pure functions turning the market model's state into Kraken WS v2 frame payloads.

The checksum uses the code base's one implementation of Kraken's algorithm
(`producers.exchanges.kraken.checksum`), the same one the producer verifies with, which is tested
against Kraken's published vectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from producers.exchanges.kraken.checksum import book_checksum
from simulator.account import Account, LedgerEntry
from simulator.book import BookSide, OrderBook
from simulator.candles import Candle
from simulator.clock import NS_PER_S
from simulator.exchanges.kraken.frames import (
    KrakenBalanceData,
    KrakenCandleData,
    KrakenInstrumentAsset,
    KrakenInstrumentData,
    KrakenInstrumentPair,
    KrakenLedgerData,
    KrakenLevel,
    KrakenTickerData,
    KrakenTradeData,
    KrakenWallet,
    decimal,
    rfc3339,
)
from simulator.exchanges.kraken.instruments import KrakenCatalog
from simulator.instruments import InstrumentSpec
from simulator.market import Fill, TickerStats

CHECKSUM_LEVELS = 10


def levels(pairs: Iterable[tuple[int, int]], spec: InstrumentSpec) -> list[KrakenLevel]:
    pp, qp = spec.price_precision, spec.qty_precision
    return [KrakenLevel(price / 10**pp, qty / 10**qp) for price, qty in pairs]


def _tokens(side: BookSide) -> list[tuple[str, str]]:
    """The checksum tokens of the top levels. A token is a price's or size's exact decimal text
    at the instrument's precision without its point and leading zeros: the simulator keeps
    prices in ticks and sizes in lots, so that is the integer's own digits (45285.2 at one
    place is tick 452852; 0.00100000 at eight is 100000 lots). No decimal formatting per
    update: it was 40% of the simulator's CPU at 2,000 events/s."""
    return [(str(price), str(qty)) for price, qty in side.top(CHECKSUM_LEVELS)]


def checksum(book: OrderBook) -> int:
    """Kraken's CRC32 over the top ten asks and bids, at the instrument's precisions (which
    the integer levels already carry)."""
    return book_checksum(_tokens(book.asks), _tokens(book.bids))


def ticker(symbol: str, spec: InstrumentSpec, stats: TickerStats, ts_ns: int) -> KrakenTickerData:
    pp, qp = spec.price_precision, spec.qty_precision
    day = stats.day
    last = stats.last
    if day is None:
        volume, vwap, low, high, open_ = 0, 0.0, last, last, last
    else:
        volume, vwap, low, high, open_ = day.volume, day.vwap(), day.low, day.high, day.open
    change = last - open_
    return KrakenTickerData(
        symbol=symbol,
        bid=decimal(stats.bid, pp),
        bid_qty=decimal(stats.bid_qty, qp),
        ask=decimal(stats.ask, pp),
        ask_qty=decimal(stats.ask_qty, qp),
        last=decimal(last, pp),
        volume=decimal(volume, qp),
        vwap=round(vwap / 10**pp, max(pp, 5)),
        low=decimal(low, pp),
        high=decimal(high, pp),
        change=decimal(change, pp),
        change_pct=round(100.0 * change / open_, 2) if open_ else 0.0,
        timestamp=rfc3339(ts_ns),
    )


def trades(symbol: str, spec: InstrumentSpec, fills: Sequence[Fill]) -> list[KrakenTradeData]:
    pp, qp = spec.price_precision, spec.qty_precision
    return [
        KrakenTradeData(
            symbol=symbol,
            side=f.side,
            price=f.price / 10**pp,
            qty=f.qty / 10**qp,
            ord_type=f.ord_type,
            trade_id=f.trade_id,
            timestamp=rfc3339(f.ts_ns),
        )
        for f in fills
    ]


def candle(symbol: str, spec: InstrumentSpec, c: Candle, interval: int) -> KrakenCandleData:
    pp, qp = spec.price_precision, spec.qty_precision
    begin_ns = c.begin * NS_PER_S
    return KrakenCandleData(
        symbol=symbol,
        open=decimal(c.open, pp),
        high=decimal(c.high, pp),
        low=decimal(c.low, pp),
        close=decimal(c.close, pp),
        trades=c.trades,
        volume=decimal(c.volume, qp),
        vwap=decimal(round(c.vwap()), pp),
        interval_begin=rfc3339(begin_ns, 9),
        interval=interval,
        timestamp=rfc3339(begin_ns + interval * 60 * NS_PER_S),
    )


def instrument(catalog: KrakenCatalog) -> KrakenInstrumentData:
    assets = [
        KrakenInstrumentAsset(
            id=a.code,
            status="enabled",
            precision=catalog.asset_spec(a.code).precision,
            precision_display=catalog.asset_spec(a.code).display_precision,
            borrowable=True,
            collateral_value=1.0,
            margin_rate=0.01,
        )
        for a in catalog.assets
    ]
    pairs = [
        KrakenInstrumentPair(
            symbol=p.symbol,
            base=p.spec.base,
            quote=p.spec.quote,
            status="online",
            qty_precision=p.spec.qty_precision,
            qty_increment=p.spec.lot,
            qty_min=p.spec.qty_min,
            price_precision=p.spec.price_precision,
            price_increment=p.spec.tick,
            tick_size=p.spec.tick,
            cost_precision=p.spec.cost_precision,
            cost_min=p.spec.cost_min,
            marginable=True,
            has_index=True,
            margin_initial=0.2,
            position_limit_long=250,
            position_limit_short=200,
        )
        for p in catalog.pairs
    ]
    return KrakenInstrumentData(assets=assets, pairs=pairs)


def balances(account: Account) -> list[KrakenBalanceData]:
    out = []
    for code, units in account.balances.items():
        value = account.value(code, units)
        wallets = [KrakenWallet(type="spot", id="main", balance=value)]
        entry = KrakenBalanceData(
            asset=code, asset_class="currency", balance=value, wallets=wallets
        )
        out.append(entry)
    return out


def ledger(account: Account, entries: Sequence[LedgerEntry]) -> list[KrakenLedgerData]:
    return [
        KrakenLedgerData(
            ledger_id=e.ledger_id,
            ref_id=e.ref_id,
            timestamp=rfc3339(e.ts_ns),
            type=e.type,
            asset=e.asset,
            asset_class="currency",
            category=e.type,
            wallet_type="spot",
            wallet_id="main",
            amount=account.value(e.asset, e.amount),
            fee=account.value(e.asset, e.fee),
            balance=account.value(e.asset, e.balance),
        )
        for e in entries
    ]
