"""The simulated user's account: balances per asset and the ledger entries that change them.

Amounts are integers in the asset's ledger precision (BTC: 10 decimals, USD: 4), so balances never
drift through float rounding. Private REST (Balance, BalanceEx) and the private `balances` channel
both read this one account, so a client can cross-check them.
"""

from __future__ import annotations

import random
import string
from typing import Literal

import msgspec

from simulator.instruments import AssetSpec, InstrumentSpec

LedgerType = Literal["deposit", "withdrawal", "trade"]

_STARTING_VALUE = {"USD": 100_000.0, "EUR": 50_000.0, "USDT": 25_000.0, "BTC": 1.5, "ETH": 20.0}
_ID_CHARS = string.ascii_uppercase + string.digits


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One balance change, as a ledger records it (amounts in ledger units)."""

    ledger_id: str
    ref_id: str
    ts_ns: int
    type: LedgerType
    asset: str
    amount: int
    fee: int
    balance: int


class Account:
    """Balances and holds for the configured assets."""

    def __init__(self, assets: list[AssetSpec], seed: int) -> None:
        self.assets = {a.code: a for a in assets}
        self._rng = random.Random(seed)  # noqa: S311 - reproducible ids, not secrets
        self.balances: dict[str, int] = {}
        self.holds: dict[str, int] = {}
        for asset in assets:
            value = _STARTING_VALUE.get(asset.code, 1_000.0)
            self.balances[asset.code] = round(value * 10**asset.precision)
            self.holds[asset.code] = round(value * 0.05 * 10**asset.precision)

    def units(self, asset: str, amount: float) -> int:
        scale: int = 10 ** self.assets[asset].precision
        return round(amount * scale)

    def value(self, asset: str, units: int) -> float:
        scale: int = 10 ** self.assets[asset].precision
        return units / scale

    def _id(self, prefix: str) -> str:
        rng = self._rng
        parts = (5, 5, 6)
        body = "-".join("".join(rng.choice(_ID_CHARS) for _ in range(n)) for n in parts)
        return prefix + body

    def apply(
        self, asset: str, amount: int, kind: LedgerType, ts_ns: int, ref_id: str | None = None
    ) -> LedgerEntry:
        """Book `amount` units (negative = debit) and return the ledger entry."""
        if asset not in self.assets:
            raise KeyError(f"unknown asset {asset}")
        balance = self.balances[asset] + amount
        if balance < 0:
            raise ValueError(f"{asset} balance would go negative")
        self.balances[asset] = balance
        return LedgerEntry(
            ledger_id=self._id("L"),
            ref_id=ref_id or self._id("T" if kind == "trade" else "F"),
            ts_ns=ts_ns,
            type=kind,
            asset=asset,
            amount=amount,
            fee=0,
            balance=balance,
        )

    def trade(self, spec: InstrumentSpec, price: float, ts_ns: int) -> list[LedgerEntry]:
        """A small fill of the user's own order: two entries (base and quote) under one ref id."""
        rng = self._rng
        qty = spec.typical_qty * rng.uniform(0.01, 0.1)
        base = self.units(spec.base, qty)
        quote = self.units(spec.quote, qty * price)
        if rng.random() < 0.5 and self.balances[spec.base] >= base:
            base = -base  # a sell: base out, quote in
        elif self.balances[spec.quote] >= quote:
            quote = -quote
        else:
            return []
        ref = self._id("T")
        return [
            self.apply(spec.base, base, "trade", ts_ns, ref),
            self.apply(spec.quote, quote, "trade", ts_ns, ref),
        ]

    def deposit(self, asset: str, amount: float, ts_ns: int) -> LedgerEntry:
        kind: LedgerType = "deposit" if amount >= 0 else "withdrawal"
        return self.apply(asset, self.units(asset, amount), kind, ts_ns)
