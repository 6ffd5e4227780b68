"""Symbols in paths and queries: `BTC-USD`, `BTC_USD`, `BTCUSD`, `btc/usd` and `BTC%2FUSD` all
mean the canonical `BTC/USD`.

A separator makes the split explicit; without one the symbol is matched against the symbols the
read model knows (so `BTCUSD` needs no table of quote currencies), else split before a common
quote currency. Anything that is not 2 to 32 letters and digits around one separator is a bad
request, not an unknown symbol.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

_SPLIT: Final = re.compile(r"^([A-Za-z0-9]{1,16})[-_/:]([A-Za-z0-9]{1,16})$")
_COMPACT: Final = re.compile(r"^[A-Za-z0-9]{2,32}$")
QUOTES: Final = ("USDT", "USDC", "USD", "EUR", "GBP", "JPY", "CAD", "CHF", "AUD", "BTC", "ETH")


class SymbolError(ValueError):
    """The text cannot be a symbol at all (400), as opposed to an unknown one (404)."""


def canonical(raw: str, known: Iterable[str] = ()) -> str:
    """`BASE/QUOTE`, upper case; raises SymbolError with the reason when malformed."""
    text = raw.strip()
    if match := _SPLIT.match(text):
        return f"{match[1].upper()}/{match[2].upper()}"
    if not _COMPACT.match(text):
        raise SymbolError(
            f"{raw!r} is not a symbol: expected BASE/QUOTE such as BTC/USD "
            "(also BTC-USD, BTC_USD, BTCUSD)"
        )
    compact = text.upper()
    for symbol in known:
        if symbol.replace("/", "") == compact:
            return symbol
    for quote in QUOTES:
        if compact.endswith(quote) and len(compact) > len(quote):
            return f"{compact[: -len(quote)]}/{quote}"
    raise SymbolError(f"{raw!r}: cannot tell base from quote; write it as BASE/QUOTE (BTC-USD)")
