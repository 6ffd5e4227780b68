"""The only place that knows Kraken's spellings of assets and pairs.

WS v2 already speaks canonical names (`BTC/USD`, `DOGE/USD`). REST speaks legacy ids: assets with
X/Z prefixes (`XXBT`, `ZUSD`), Bitcoin as XBT and Dogecoin as XDG, pair ids such as `XXBTZUSD` or
`SOLUSD`, and balance suffixes for earn variants (`ETH2.S`, `USD.M`). Everything past this module
uses canonical codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from producers.errors import ParseError

# REST asset id or altname -> canonical asset code.
_ASSET_ALIASES: Final = {
    "XBT": "BTC",
    "XXBT": "BTC",
    "XBT.M": "BTC",
    "XDG": "DOGE",
    "XXDG": "DOGE",
    "XETH": "ETH",
    "XLTC": "LTC",
    "XXRP": "XRP",
    "XXLM": "XLM",
    "XXMR": "XMR",
    "XETC": "ETC",
    "XZEC": "ZEC",
    "XMLN": "MLN",
    "XREP": "REP",
    "ZUSD": "USD",
    "ZEUR": "EUR",
    "ZGBP": "GBP",
    "ZCAD": "CAD",
    "ZJPY": "JPY",
    "ZAUD": "AUD",
    "ZCHF": "CHF",
}
_CANONICAL_TO_REST: Final = {"BTC": "XBT", "DOGE": "XDG"}
# Suffixes Kraken appends to balance asset ids for earn/staking/tokenized variants.
BALANCE_SUFFIXES: Final = (".S", ".M", ".F", ".B", ".T", ".P")
_STATIC_PAIRS: Final = {
    "BTC/USD": "XXBTZUSD",
    "ETH/USD": "XETHZUSD",
    "SOL/USD": "SOLUSD",
    "XRP/USD": "XXRPZUSD",
    "DOGE/USD": "XDGUSD",
    "LTC/USD": "XLTCZUSD",
    "BTC/EUR": "XXBTZEUR",
    "ETH/EUR": "XETHZEUR",
    "ETH/BTC": "XETHXXBT",
    "ADA/USD": "ADAUSD",
    "USDT/USD": "USDTZUSD",
}


def canonical_asset(code: str) -> str:
    """`XXBT` → BTC, `XBT` → BTC, `ZUSD` → USD, `SOL` → SOL, `ETH2.S` → ETH2.S stays marked."""
    base, dot, suffix = code.partition(".")
    mapped = _ASSET_ALIASES.get(base, base)
    return f"{mapped}{dot}{suffix}" if dot else mapped


def rest_asset(canonical: str) -> str:
    """The REST altname of a canonical asset (`BTC` → `XBT`)."""
    return _CANONICAL_TO_REST.get(canonical, canonical)


def rest_pair_altname(symbol: str) -> str:
    """`BTC/USD` → `XBTUSD`, the form REST accepts in `pair=`."""
    base, quote = split_symbol(symbol)
    return rest_asset(base) + rest_asset(quote)


def split_symbol(symbol: str) -> tuple[str, str]:
    base, slash, quote = symbol.partition("/")
    if not slash or not base or not quote:
        raise ParseError("kraken", "symbol", "not a BASE/QUOTE symbol", symbol)
    return base, quote


@dataclass(frozen=True, slots=True)
class PairInfo:
    """What the adapter needs to know about one pair, from REST AssetPairs."""

    symbol: str  # canonical BASE/QUOTE
    rest_id: str  # XXBTZUSD
    altname: str  # XBTUSD
    price_precision: int
    qty_precision: int


class SymbolMap:
    """Canonical symbols ↔ Kraken REST pair ids, built from AssetPairs (static fallback)."""

    def __init__(self, pairs: Mapping[str, PairInfo] | None = None) -> None:
        self._by_symbol: dict[str, PairInfo] = dict(pairs or {})
        self._by_rest: dict[str, PairInfo] = {}
        for info in self._by_symbol.values():
            self._by_rest[info.rest_id] = info
            self._by_rest[info.altname] = info

    @classmethod
    def from_asset_pairs(cls, result: Mapping[str, Mapping[str, object]]) -> SymbolMap:
        """From the `result` of GET /0/public/AssetPairs (keyed by pair id)."""
        pairs: dict[str, PairInfo] = {}
        for rest_id, row in result.items():
            try:
                base = canonical_asset(str(row["base"]))
                quote = canonical_asset(str(row["quote"]))
                info = PairInfo(
                    symbol=f"{base}/{quote}",
                    rest_id=rest_id,
                    altname=str(row["altname"]),
                    price_precision=int(str(row["pair_decimals"])),
                    qty_precision=int(str(row["lot_decimals"])),
                )
            except (KeyError, ValueError) as exc:
                raise ParseError(
                    "kraken", "AssetPairs", f"bad row {rest_id}: {exc}", str(dict(row))
                ) from None
            pairs[info.symbol] = info
        return cls(pairs)

    def rest_id(self, symbol: str) -> str:
        if info := self._by_symbol.get(symbol):
            return info.rest_id
        if symbol in _STATIC_PAIRS:
            return _STATIC_PAIRS[symbol]
        raise ParseError("kraken", "symbol", "unknown symbol", symbol)

    def symbol(self, rest_id: str) -> str:
        """A REST result key (`XXBTZUSD`, or an altname) → canonical symbol."""
        if info := self._by_rest.get(rest_id):
            return info.symbol
        for symbol, known in _STATIC_PAIRS.items():
            if known == rest_id:
                return symbol
        raise ParseError("kraken", "symbol", "unknown pair id", rest_id)

    def info(self, symbol: str) -> PairInfo | None:
        return self._by_symbol.get(symbol)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    @property
    def symbols(self) -> list[str]:
        return sorted(self._by_symbol)
