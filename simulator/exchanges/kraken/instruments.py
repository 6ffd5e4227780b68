"""Kraken's spellings of the simulator's instruments: the only file that knows them.

WS v2 uses display names (`BTC/USD`, asset `BTC`) and they equal our canonical symbols. REST keeps
the legacy ids (`XXBTZUSD`, asset `XXBT`, altname `XBTUSD`, v1 `wsname` `XBT/USD`), and answers a
pair in any of its spellings under its id key. This module maps both ways and builds the
reference-data payloads (REST AssetPairs/Assets, the `instrument` channel) from `InstrumentSpec`.
"""

from __future__ import annotations

import msgspec

from simulator.instruments import ASSETS, AssetSpec, InstrumentSpec


class KrakenAsset(msgspec.Struct, frozen=True, kw_only=True):
    """An asset's REST id and altname (`XXBT`, `XBT`) next to its v2 name (`BTC`)."""

    code: str
    rest_id: str
    altname: str


class KrakenPair(msgspec.Struct, frozen=True, kw_only=True):
    """One pair in every Kraken spelling, with its instrument spec."""

    spec: InstrumentSpec
    rest_id: str
    altname: str
    wsname: str
    base: KrakenAsset
    quote: KrakenAsset

    @property
    def symbol(self) -> str:
        return self.spec.symbol


_ASSET_IDS: dict[str, tuple[str, str]] = {
    "BTC": ("XXBT", "XBT"),
    "ETH": ("XETH", "ETH"),
    "SOL": ("SOL", "SOL"),
    "XRP": ("XXRP", "XRP"),
    "DOGE": ("XXDG", "XDG"),
    "ADA": ("ADA", "ADA"),
    "LTC": ("XLTC", "LTC"),
    "USD": ("ZUSD", "USD"),
    "EUR": ("ZEUR", "EUR"),
    "USDT": ("USDT", "USDT"),
}
_PAIR_IDS: dict[str, str] = {
    "BTC/USD": "XXBTZUSD",
    "ETH/USD": "XETHZUSD",
    "SOL/USD": "SOLUSD",
    "XRP/USD": "XXRPZUSD",
    "DOGE/USD": "XDGUSD",
    "ADA/USD": "ADAUSD",
    "LTC/USD": "XLTCZUSD",
    "ETH/BTC": "XETHXXBT",
    "BTC/EUR": "XXBTZEUR",
    "ETH/EUR": "XETHZEUR",
    "USDT/USD": "USDTZUSD",
}


def kraken_asset(code: str) -> KrakenAsset:
    rest_id, altname = _ASSET_IDS[code]
    return KrakenAsset(code=code, rest_id=rest_id, altname=altname)


def kraken_pair(spec: InstrumentSpec) -> KrakenPair:
    base, quote = kraken_asset(spec.base), kraken_asset(spec.quote)
    return KrakenPair(
        spec=spec,
        rest_id=_PAIR_IDS[spec.symbol],
        altname=base.altname + quote.altname,
        wsname=f"{base.altname}/{quote.altname}",
        base=base,
        quote=quote,
    )


class KrakenCatalog:
    """The pairs one simulator serves, looked up by any Kraken spelling."""

    def __init__(self, specs: list[InstrumentSpec]) -> None:
        self.pairs = [kraken_pair(s) for s in specs]
        self.by_symbol = {p.symbol: p for p in self.pairs}
        self._rest: dict[str, KrakenPair] = {}
        for p in self.pairs:
            for name in (p.rest_id, p.altname, p.wsname, p.symbol, p.spec.base + p.spec.quote):
                self._rest[name.upper()] = p
        codes = dict.fromkeys(c for p in self.pairs for c in (p.spec.base, p.spec.quote))
        self.assets = [kraken_asset(c) for c in codes]

    def rest_pair(self, name: str) -> KrakenPair | None:
        """A REST `pair` argument in any spelling Kraken accepts (`XBTUSD`, `XXBTZUSD`...)."""
        return self._rest.get(name.strip().upper())

    def asset_spec(self, code: str) -> AssetSpec:
        return ASSETS[code]


# -- REST reference data ----------------------------------------------------------------------


class RestAssetPair(msgspec.Struct, kw_only=True):
    """One row of `GET /0/public/AssetPairs`, fields as Kraken names and orders them."""

    altname: str
    wsname: str
    aclass_base: str
    base: str
    aclass_quote: str
    quote: str
    lot: str
    cost_decimals: int
    pair_decimals: int
    lot_decimals: int
    lot_multiplier: int
    leverage_buy: list[int]
    leverage_sell: list[int]
    fees: list[tuple[int, float]]
    fees_maker: list[tuple[int, float]]
    fee_volume_currency: str
    margin_call: int
    margin_stop: int
    ordermin: str
    costmin: str
    tick_size: str
    status: str
    long_position_limit: int
    short_position_limit: int


class RestAsset(msgspec.Struct, kw_only=True):
    """One row of `GET /0/public/Assets`."""

    aclass: str
    altname: str
    decimals: int
    display_decimals: int
    collateral_value: float
    status: str


_FEES = [(0, 0.4), (10_000, 0.35), (50_000, 0.24), (100_000, 0.22), (250_000, 0.2)]
_MAKER = [(0, 0.25), (10_000, 0.2), (50_000, 0.14), (100_000, 0.12), (250_000, 0.1)]


def _plain(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".") or "0"


def rest_asset_pair(pair: KrakenPair) -> RestAssetPair:
    spec = pair.spec
    return RestAssetPair(
        altname=pair.altname,
        wsname=pair.wsname,
        aclass_base="currency",
        base=pair.base.rest_id,
        aclass_quote="currency",
        quote=pair.quote.rest_id,
        lot="unit",
        cost_decimals=spec.cost_precision,
        pair_decimals=spec.price_precision,
        lot_decimals=spec.qty_precision,
        lot_multiplier=1,
        leverage_buy=[2, 3, 4, 5],
        leverage_sell=[2, 3, 4, 5],
        fees=list(_FEES),
        fees_maker=list(_MAKER),
        fee_volume_currency="ZUSD",
        margin_call=80,
        margin_stop=40,
        ordermin=_plain(spec.qty_min, spec.qty_precision),
        costmin=_plain(spec.cost_min, spec.cost_precision),
        tick_size=_plain(spec.tick, spec.price_precision),
        status="online",
        long_position_limit=250,
        short_position_limit=200,
    )


def rest_asset(asset: KrakenAsset) -> RestAsset:
    spec = ASSETS[asset.code]
    return RestAsset(
        aclass="currency",
        altname=asset.altname,
        decimals=spec.precision,
        display_decimals=spec.display_precision,
        collateral_value=1.0,
        status="enabled",
    )
