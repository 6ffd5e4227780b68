"""The pacing loop steps the market at the target rate with spread-out timestamps."""

from __future__ import annotations

from simulator.clock import NS_PER_S, ManualClock
from simulator.config import SimulatorConfig
from simulator.exchanges.kraken.exchange import TICK_SECONDS, KrakenExchange

START_NS = 1_700_000_000 * NS_PER_S


def exchange(rate: float) -> tuple[KrakenExchange, ManualClock]:
    clock = ManualClock(START_NS)
    ex = KrakenExchange(SimulatorConfig(events_per_second=rate, symbols=("BTC/USD",)), clock)
    return ex, clock


def test_events_follow_the_target_rate_across_ticks() -> None:
    ex, clock = exchange(2_000)
    total = 0
    for _ in range(200):  # one simulated second in 5 ms ticks
        total += ex.tick(clock.advance(TICK_SECONDS))
    assert total == 2_000
    assert ex.events == 2_000


def test_fractional_rates_carry_over() -> None:
    ex, clock = exchange(30)
    counts = [ex.tick(clock.advance(TICK_SECONDS)) for _ in range(400)]  # two seconds
    assert sum(counts) == 60
    assert max(counts) == 1


def test_a_stalled_process_does_not_replay_its_backlog_in_a_burst() -> None:
    ex, clock = exchange(1_000)
    assert ex.tick(clock.advance(10.0)) == 100  # capped at 0.1 s worth


def test_pause_and_rate_changes() -> None:
    ex, clock = exchange(1_000)
    ex.set_paused(True)
    assert ex.tick(clock.advance(1.0)) == 0
    ex.set_paused(False)
    ex.set_rate(100)
    assert ex.tick(clock.advance(0.05)) == 5


def test_achieved_rate_is_measured() -> None:
    ex, clock = exchange(500)
    for _ in range(600):
        now = clock.advance(TICK_SECONDS)
        ex.tick(now)
        ex.housekeeping(now)
    assert abs(ex.state().events_per_second_achieved - 500) < 5
