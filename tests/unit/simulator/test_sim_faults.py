"""Fault specifications and their bookkeeping."""

from __future__ import annotations

import pytest

from simulator.faults import FaultError, FaultSpec, FaultState

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "name", "param", "every"),
    [
        ("drop", "drop", None, None),
        ("drop:1001", "drop", "1001", None),
        ("stall:3", "stall", "3", None),
        ("corrupt_checksum:BTC/USD", "corrupt_checksum", "BTC/USD", None),
        ("malformed@30", "malformed", None, 30.0),
        ("rate_limit:5@10", "rate_limit", "5", 10.0),
    ],
)
def test_parse(text: str, name: str, param: str | None, every: float | None) -> None:
    spec = FaultSpec.parse(text)
    assert (spec.name, spec.param, spec.every) == (name, param, every)
    assert FaultSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("explode", "unknown fault 'explode'"),
        ("stall:soon", "parameter of stall must be a number"),
        ("stall:-1", "must be positive"),
        ("drop@never", "repeat period of drop must be a number"),
        ("malformed:3", "malformed takes no parameter"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultSpec.parse(text)


def test_rest_faults_answer_the_next_calls_in_order_and_are_counted() -> None:
    state = FaultState()
    state.arm(FaultSpec.parse("rate_limit:2"), 0)
    state.arm(FaultSpec.parse("http429"), 0)
    assert [state.take_rest_fault() for _ in range(4)] == [
        "rate_limit",
        "rate_limit",
        "http429",
        None,
    ]
    assert (state.counts["rate_limit"].armed, state.counts["rate_limit"].fired) == (1, 2)
    assert state.counts["http429"].fired == 1


def test_stall_and_refuse_last_their_duration() -> None:
    state = FaultState()
    state.arm(FaultSpec.parse("stall:2"), 10 * S)
    state.arm(FaultSpec.parse("refuse"), 10 * S)
    assert state.is_stalled(11 * S)
    assert not state.is_stalled(12 * S)
    assert state.refuse_handshake(14 * S)
    assert not state.refuse_handshake(15 * S)
    assert state.counts["refuse"].fired == 1
    snapshot = state.snapshot(11 * S)
    assert snapshot.stalled
    assert snapshot.refusing


def test_book_faults_target_their_symbol_once() -> None:
    state = FaultState()
    state.arm(FaultSpec.parse("corrupt_checksum:ETH/USD"), 0)
    state.arm(FaultSpec.parse("skip_book_update"), 0)
    assert state.take_book_fault("BTC/USD") == "skip_book_update"  # untargeted: any symbol
    assert state.take_book_fault("BTC/USD") is None
    assert state.take_book_fault("ETH/USD") == "corrupt_checksum"
    assert state.take_book_fault("ETH/USD") is None
    state.arm(FaultSpec.parse("duplicate_trade:SOL/USD"), 0)
    assert not state.take_trade_duplicate("BTC/USD")
    assert state.take_trade_duplicate("SOL/USD")


def test_connection_faults_wait_until_taken_and_show_as_pending() -> None:
    state = FaultState()
    state.arm(FaultSpec.parse("drop"), 0)
    state.arm(FaultSpec.parse("oversized:2"), 0)
    assert state.snapshot(0).pending == ["drop", "oversized:2"]
    assert [s.name for s in state.take_connection_faults()] == ["drop", "oversized"]
    assert state.take_connection_faults() == []


def test_repeating_faults_rearm_every_period() -> None:
    state = FaultState()
    state.arm(FaultSpec.parse("rate_limit@5"), 0)
    state.rearm_due(4 * S)
    assert state.counts["rate_limit"].armed == 1
    state.rearm_due(5 * S)
    state.rearm_due(10 * S)
    assert state.counts["rate_limit"].armed == 3
    assert state.snapshot(10 * S).rest_faults_left == 3
