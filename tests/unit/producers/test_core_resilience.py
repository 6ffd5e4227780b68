"""Back-off bounds, the circuit breaker's states, Kraken's call counter, the client budget."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.core.backoff import Backoff
from producers.core.circuit import CircuitBreaker
from producers.core.ratelimit import STARTER, ClientLimiter, KrakenCallCounter
from producers.errors import CircuitOpen, ExchangeError
from schemas.models import CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(0.01, 5), st.floats(5, 60), st.floats(1, 4), st.integers(0, 200))
def test_backoff_delays_stay_within_the_capped_exponential(
    initial: float,
    cap: float,
    multiplier: float,
    seed: int,
) -> None:
    backoff = Backoff(initial, cap, multiplier, rng=random.Random(seed))
    for attempt in range(100):
        delay = backoff.next_delay()
        assert 0 <= delay <= min(cap, initial * multiplier**attempt)
    backoff.reset()
    assert backoff.attempt == 0


def test_circuit_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    changes: list[CircuitState] = []
    circuit = CircuitBreaker(3, 10, clock=clock, on_change=changes.append)
    for _ in range(3):
        circuit.before_call()
        circuit.record_failure()
    assert circuit.state is CircuitState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        circuit.before_call()
    assert refused.value.retryable
    clock.now += 10
    assert circuit.state is CircuitState.HALF_OPEN
    circuit.record_failure()  # the trial failed: open again
    assert circuit.state is CircuitState.OPEN
    clock.now += 10
    circuit.before_call()
    circuit.record_success()
    assert circuit.state is CircuitState.CLOSED
    assert changes == [
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    ]


def test_call_counter_waits_before_kraken_would_refuse_and_decays() -> None:
    clock = FakeClock()
    counter = KrakenCallCounter(STARTER, clock=clock)
    for _ in range(15):
        assert counter.wait_time() == 0
        counter.spend()
    assert counter.used == 1.0
    assert abs(counter.wait_time() - 1 / 0.33) < 1e-6
    clock.now += 1 / 0.33
    assert counter.wait_time() < 1e-9


def test_a_rate_limit_answer_slows_the_pace_then_it_recovers() -> None:
    clock = FakeClock()
    counter = KrakenCallCounter(STARTER, clock=clock)
    counter.rate_limited()
    slow = counter.wait_time()
    assert slow > 1 / 0.33  # twice slower than nominal
    clock.now += 60
    for _ in range(40):
        counter.spend(0)
    assert counter.wait_time() == 0


def test_exchange_errors_know_whether_retrying_helps() -> None:
    assert ExchangeError("kraken", ["EAPI:Rate limit exceeded"]).retryable
    assert ExchangeError("kraken", ["EAPI:Rate limit exceeded"]).rate_limited
    assert ExchangeError("kraken", ["EService:Unavailable"]).retryable
    assert not ExchangeError("kraken", ["EAPI:Invalid key"]).retryable
    assert not ExchangeError("kraken", ["EQuery:Unknown asset pair"]).retryable
    assert ExchangeError("kraken", ["x"], status=429).rate_limited
    assert ExchangeError("kraken", ["x"], status=502).retryable


async def test_client_budget_throttles_past_its_rate() -> None:
    limiter = ClientLimiter(per_second=20, per_minute=1000)
    started = time.monotonic()
    for _ in range(30):
        async with limiter:
            pass
    assert time.monotonic() - started >= 0.3  # 10 calls past the burst at 20/s
