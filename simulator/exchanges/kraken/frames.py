"""Kraken WebSocket v2 frames as the simulator sends them: msgspec Structs mirroring the wire.

Field names and order follow Kraken's (acks: method, result, success, time_in, time_out, req_id;
errors alphabetical, as captured from the live service). Prices and sizes are JSON numbers built
from integer ticks and lots (`ticks / 10**precision` is the double nearest the decimal, so its
shortest repr is the exact decimal text); timestamps are RFC 3339 with microseconds, and
`interval_begin` with nanoseconds, as Kraken writes them.
"""

from __future__ import annotations

import functools
import time
from typing import Literal

import msgspec

from simulator.clock import NS_PER_S

FrameType = Literal["snapshot", "update"]
_encoder = msgspec.json.Encoder()


def encode(frame: msgspec.Struct) -> str:
    return _encoder.encode(frame).decode()


def decimal(units: int, precision: int) -> float:
    """An integer count of 10^-precision units as the JSON number Kraken would send."""
    scale: int = 10**precision
    return units / scale


@functools.lru_cache(maxsize=8)
def _whole_seconds(seconds: int) -> str:
    """Cached: every frame of one second shares its date-time text."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(ts_ns: int, digits: int = 6) -> str:
    """`2023-10-06T17:35:55.440295Z` (6 digits) or with 9 digits for `interval_begin`."""
    seconds, frac = divmod(ts_ns, NS_PER_S)
    text = _whole_seconds(seconds)
    if digits == 9:
        return f"{text}.{frac:09d}Z"
    return f"{text}.{frac // 1000:06d}Z"


# -- session frames ----------------------------------------------------------------------------


class KrakenStatusData(msgspec.Struct, kw_only=True):
    api_version: str
    connection_id: int
    system: str
    version: str


class KrakenStatusFrame(msgspec.Struct, kw_only=True):
    channel: str = "status"
    type: FrameType = "update"
    data: list[KrakenStatusData]


HEARTBEAT = '{"channel":"heartbeat"}'


class KrakenPong(msgspec.Struct, kw_only=True, omit_defaults=True):
    method: str  # no default: omit_defaults would drop it
    req_id: int | None = None
    time_in: str
    time_out: str


class KrakenAckResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    channel: str
    depth: int | None = None
    event_trigger: str | None = None
    interval: int | None = None
    snapshot: bool | None = None
    symbol: str | None = None
    warnings: list[str] | None = None


class KrakenAck(msgspec.Struct, kw_only=True, omit_defaults=True):
    method: str
    result: KrakenAckResult
    success: bool
    time_in: str
    time_out: str
    req_id: int | None = None


class KrakenErrorAck(msgspec.Struct, kw_only=True, omit_defaults=True):
    channel: str | None = None
    error: str
    method: str | None = None
    req_id: int | None = None
    status: str | None = None
    success: bool
    symbol: str | None = None
    time_in: str
    time_out: str


# -- market data -------------------------------------------------------------------------------


class KrakenLevel(msgspec.Struct, gc=False):
    price: float
    qty: float


class KrakenBookData(msgspec.Struct, kw_only=True):
    symbol: str
    bids: list[KrakenLevel]
    asks: list[KrakenLevel]
    checksum: int
    timestamp: str


class KrakenBookFrame(msgspec.Struct, kw_only=True):
    channel: str = "book"
    type: FrameType
    data: list[KrakenBookData]


class KrakenTickerData(msgspec.Struct, kw_only=True):
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    last: float
    volume: float
    vwap: float
    low: float
    high: float
    change: float
    change_pct: float
    timestamp: str


class KrakenTickerFrame(msgspec.Struct, kw_only=True):
    channel: str = "ticker"
    type: FrameType
    data: list[KrakenTickerData]


class KrakenTradeData(msgspec.Struct, kw_only=True, gc=False):
    symbol: str
    side: str
    price: float
    qty: float
    ord_type: str
    trade_id: int
    timestamp: str


class KrakenTradeFrame(msgspec.Struct, kw_only=True):
    channel: str = "trade"
    type: FrameType
    data: list[KrakenTradeData]


class KrakenCandleData(msgspec.Struct, kw_only=True):
    symbol: str
    open: float
    high: float
    low: float
    close: float
    trades: int
    volume: float
    vwap: float
    interval_begin: str
    interval: int
    timestamp: str


class KrakenOhlcFrame(msgspec.Struct, kw_only=True):
    channel: str = "ohlc"
    type: FrameType
    timestamp: str
    data: list[KrakenCandleData]


class KrakenInstrumentAsset(msgspec.Struct, kw_only=True):
    id: str
    status: str
    precision: int
    precision_display: int
    borrowable: bool
    collateral_value: float
    margin_rate: float


class KrakenInstrumentPair(msgspec.Struct, kw_only=True):
    symbol: str
    base: str
    quote: str
    status: str
    qty_precision: int
    qty_increment: float
    qty_min: float
    price_precision: int
    price_increment: float
    tick_size: float
    cost_precision: int
    cost_min: float
    marginable: bool
    has_index: bool
    margin_initial: float
    position_limit_long: int
    position_limit_short: int


class KrakenInstrumentData(msgspec.Struct, kw_only=True):
    assets: list[KrakenInstrumentAsset]
    pairs: list[KrakenInstrumentPair]


class KrakenInstrumentFrame(msgspec.Struct, kw_only=True):
    channel: str = "instrument"
    type: FrameType
    data: KrakenInstrumentData


# -- private -----------------------------------------------------------------------------------


class KrakenWallet(msgspec.Struct, kw_only=True):
    type: str
    id: str
    balance: float


class KrakenBalanceData(msgspec.Struct, kw_only=True):
    asset: str
    asset_class: str
    balance: float
    wallets: list[KrakenWallet]


class KrakenLedgerData(msgspec.Struct, kw_only=True):
    ledger_id: str
    ref_id: str
    timestamp: str
    type: str
    asset: str
    asset_class: str
    category: str
    wallet_type: str
    wallet_id: str
    amount: float
    fee: float
    balance: float


class KrakenBalancesFrame(msgspec.Struct, kw_only=True):
    """The snapshot: one entry per asset."""

    channel: str = "balances"
    type: FrameType = "snapshot"
    data: list[KrakenBalanceData]
    sequence: int


class KrakenLedgerFrame(msgspec.Struct, kw_only=True):
    """An update: one entry per ledger transaction."""

    channel: str = "balances"
    type: FrameType = "update"
    data: list[KrakenLedgerData]
    sequence: int
