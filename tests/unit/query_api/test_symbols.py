"""Symbol spellings: every way a client may write a symbol means the same canonical BASE/QUOTE,
and text that cannot be a symbol is refused with a reason (never a crash, never a wrong match)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_api.symbols import SymbolError, canonical

asset = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)


@given(asset, asset, st.sampled_from("-_/:"), st.booleans())
def test_any_separator_and_case_give_the_canonical_symbol(
    base: str, quote: str, separator: str, lower: bool
) -> None:
    text = f"{base}{separator}{quote}"
    assert canonical(text.lower() if lower else text) == f"{base}/{quote}"


@given(asset, asset)
def test_without_a_separator_the_known_symbols_decide(base: str, quote: str) -> None:
    known = {f"{base}/{quote}"}
    assert canonical(f"{base}{quote}", known) == f"{base}/{quote}"


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("BTCUSD", "BTC/USD"),
        ("ethusdt", "ETH/USDT"),
        ("SOLEUR", "SOL/EUR"),
        ("XBTUSDC", "XBT/USDC"),
    ],
)
def test_common_quote_currencies_split_an_unknown_compact_symbol(text: str, symbol: str) -> None:
    assert canonical(text) == symbol


@given(st.text(max_size=40))
def test_arbitrary_text_is_a_symbol_or_a_clear_refusal(text: str) -> None:
    try:
        symbol = canonical(text)
    except SymbolError as exc:
        reason = str(exc)
        symbol = None
    if symbol is None:
        assert "BASE/QUOTE" in reason
    else:
        base, _, quote = symbol.partition("/")
        assert base.isalnum()
        assert quote.isalnum()
        assert symbol == symbol.upper()


@pytest.mark.parametrize(
    "text", ["", "B", "BTC/", "/USD", "BTC//USD", "BTC USD", "BTC/USD/EUR", "ÄBC/USD", "BTCXYZ"]
)
def test_malformed_or_ambiguous_text_is_refused(text: str) -> None:
    with pytest.raises(SymbolError):
        canonical(text)
