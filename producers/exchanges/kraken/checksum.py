"""Kraken's order book checksum (WS v2): CRC32 over the top 10 levels as exact decimal text.

Kraken sends prices and sizes as JSON numbers, which lose trailing zeros, so the text is rebuilt
from the instrument's precisions (`price_precision`, `qty_precision`). The rule (Kraken's guide):
top 10 asks ascending then top 10 bids descending; for each level the price text then the size
text, each with the decimal point removed and leading zeros stripped; CRC32 of the concatenation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal


def format_decimal(value: float, precision: int) -> str:
    """Exact fixed-point text at `precision` places: 0.1 + 0.2 at 8 → "0.30000000".

    Goes through the shortest repr of the float (what the exchange's JSON number said), never
    through binary float arithmetic, so no 0.30000000000000004 artefacts reach the checksum.
    """
    quantum = Decimal(1).scaleb(-precision)
    return str(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_EVEN))


def checksum_token(text: str) -> str:
    """`45285.2` → `452852`; `0.00100000` → `100000`."""
    return text.replace(".", "").lstrip("0")


def crc32_text(text: str) -> int:
    """CRC32 (unsigned) of an already assembled checksum string."""
    return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF


def book_checksum(
    asks: Sequence[tuple[str, str]],
    bids: Sequence[tuple[str, str]],
) -> int:
    """CRC32 (unsigned) of the top 10 asks (best first) then the top 10 bids (best first)."""
    parts = [checksum_token(p) + checksum_token(q) for p, q in asks[:10]]
    parts += [checksum_token(p) + checksum_token(q) for p, q in bids[:10]]
    return zlib.crc32("".join(parts).encode("ascii")) & 0xFFFFFFFF
