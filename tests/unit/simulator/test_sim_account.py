"""The simulated account: exact integer balances and the ledger entries that change them."""

from __future__ import annotations

import pytest

from simulator.account import Account
from simulator.instruments import INSTRUMENTS, assets_for


def account() -> Account:
    return Account(assets_for([INSTRUMENTS["BTC/USD"], INSTRUMENTS["ETH/USD"]]), seed=1)


def test_starting_balances_in_ledger_units() -> None:
    acct = account()
    assert acct.balances == {"BTC": 15_000_000_000, "USD": 1_000_000_000, "ETH": 200_000_000_000}
    assert acct.value("USD", acct.balances["USD"]) == 100_000.0


def test_deposit_and_withdrawal_entries_carry_the_new_balance() -> None:
    acct = account()
    deposit = acct.deposit("BTC", 0.25, 1)
    withdrawal = acct.deposit("BTC", -0.5, 2)
    assert (deposit.type, deposit.amount, deposit.balance) == (
        "deposit",
        2_500_000_000,
        17_500_000_000,
    )
    assert (withdrawal.type, withdrawal.balance) == ("withdrawal", 12_500_000_000)
    assert deposit.ledger_id != withdrawal.ledger_id
    with pytest.raises(ValueError, match="negative"):
        acct.deposit("ETH", -1_000.0, 3)


def test_a_trade_moves_base_and_quote_in_opposite_directions_under_one_ref() -> None:
    acct = account()
    for ts in range(20):
        before = dict(acct.balances)
        base, quote = acct.trade(INSTRUMENTS["BTC/USD"], 60_000.0, ts)
        assert base.ref_id == quote.ref_id
        assert base.type == quote.type == "trade"
        assert (base.amount > 0) != (quote.amount > 0)
        assert acct.balances["BTC"] == before["BTC"] + base.amount == base.balance
        assert acct.balances["USD"] == before["USD"] + quote.amount == quote.balance
