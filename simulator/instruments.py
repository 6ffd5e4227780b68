"""The instruments the simulator can trade, in canonical (venue-free) spelling.

Precisions follow the values real venues publish for these pairs (Kraken's `pair_decimals` /
`lot_decimals`), because clients rebuild exact decimal text from them for book checksums. The
remaining fields shape the synthetic market: where the price starts, how volatile it is, how much
of the event flow it gets and how large a typical resting order is.
"""

from __future__ import annotations

import msgspec


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A tradable pair: its precisions and the parameters of its synthetic market."""

    symbol: str
    base: str
    quote: str
    price_precision: int
    qty_precision: int
    cost_precision: int
    qty_min: float
    cost_min: float
    start_price: float
    annual_volatility: float
    activity: float
    typical_qty: float

    @property
    def tick(self) -> float:
        return 10.0**-self.price_precision

    @property
    def lot(self) -> float:
        return 10.0**-self.qty_precision


class AssetSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An asset: ledger precision (balances) and the precision a UI shows."""

    code: str
    precision: int
    display_precision: int


def _pair(
    symbol: str,
    pp: int,
    qp: int,
    *,
    price: float,
    vol: float,
    activity: float,
    qty: float,
    qty_min: float,
    cost_precision: int = 5,
    cost_min: float = 0.5,
) -> InstrumentSpec:
    base, quote = symbol.split("/")
    return InstrumentSpec(
        symbol=symbol,
        base=base,
        quote=quote,
        price_precision=pp,
        qty_precision=qp,
        cost_precision=cost_precision,
        qty_min=qty_min,
        cost_min=cost_min,
        start_price=price,
        annual_volatility=vol,
        activity=activity,
        typical_qty=qty,
    )


INSTRUMENTS: dict[str, InstrumentSpec] = {
    spec.symbol: spec
    for spec in (
        _pair("BTC/USD", 1, 8, price=60_000.0, vol=0.55, activity=5, qty=0.15, qty_min=0.00005),
        _pair("ETH/USD", 2, 8, price=3_000.0, vol=0.70, activity=4, qty=2.0, qty_min=0.002),
        _pair("SOL/USD", 2, 8, price=150.0, vol=0.90, activity=3, qty=30.0, qty_min=0.02),
        _pair("XRP/USD", 5, 8, price=0.55, vol=0.80, activity=2, qty=5_000.0, qty_min=2.0),
        _pair("DOGE/USD", 7, 8, price=0.15, vol=1.00, activity=2, qty=20_000.0, qty_min=13.0),
        _pair("ADA/USD", 6, 8, price=0.45, vol=0.85, activity=1, qty=5_000.0, qty_min=5.0),
        _pair("LTC/USD", 2, 8, price=80.0, vol=0.75, activity=1, qty=20.0, qty_min=0.05),
        _pair(
            "ETH/BTC",
            5,
            8,
            price=0.05,
            vol=0.45,
            activity=1,
            qty=2.0,
            qty_min=0.002,
            cost_precision=10,
            cost_min=0.00002,
        ),
        _pair("BTC/EUR", 1, 8, price=55_000.0, vol=0.55, activity=2, qty=0.15, qty_min=0.00005),
        _pair("ETH/EUR", 2, 8, price=2_750.0, vol=0.70, activity=1, qty=2.0, qty_min=0.002),
        _pair("USDT/USD", 5, 8, price=1.0, vol=0.02, activity=1, qty=20_000.0, qty_min=5.0),
    )
}

ASSETS: dict[str, AssetSpec] = {
    a.code: a
    for a in (
        AssetSpec(code="BTC", precision=10, display_precision=5),
        AssetSpec(code="ETH", precision=10, display_precision=5),
        AssetSpec(code="SOL", precision=10, display_precision=5),
        AssetSpec(code="XRP", precision=8, display_precision=5),
        AssetSpec(code="DOGE", precision=8, display_precision=2),
        AssetSpec(code="ADA", precision=8, display_precision=6),
        AssetSpec(code="LTC", precision=10, display_precision=5),
        AssetSpec(code="USD", precision=4, display_precision=2),
        AssetSpec(code="EUR", precision=4, display_precision=2),
        AssetSpec(code="USDT", precision=8, display_precision=4),
    )
}

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USD", "ETH/USD", "SOL/USD")


class UnknownSymbolError(ValueError):
    """A symbol the simulator does not list; the message names the ones it does."""


def instruments_for(symbols: list[str] | tuple[str, ...]) -> list[InstrumentSpec]:
    """Look up every symbol, failing once with all the unknown ones named."""
    unknown = [s for s in symbols if s not in INSTRUMENTS]
    if unknown:
        raise UnknownSymbolError(
            f"unknown symbol(s) {', '.join(unknown)}; known: {', '.join(INSTRUMENTS)}"
        )
    return [INSTRUMENTS[s] for s in dict.fromkeys(symbols)]


def assets_for(specs: list[InstrumentSpec]) -> list[AssetSpec]:
    """The assets the given pairs trade, in first-seen order."""
    codes = dict.fromkeys(code for spec in specs for code in (spec.base, spec.quote))
    return [ASSETS[c] for c in codes]
