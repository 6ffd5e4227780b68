"""A circuit breaker for REST calls: stop hammering an exchange that keeps failing.

closed → (failure_threshold consecutive failures) → open → (reset_seconds) → half_open →
one trial call: success closes it, failure opens it again. State changes go to a listener so the
producer can publish them on md.status.v1.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from producers.errors import CircuitOpen
from schemas.models import CircuitState


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] = lambda _s: None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_seconds
        ):
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        if self.state is CircuitState.OPEN:
            remaining = self.reset_seconds - (self._clock() - self._opened_at)
            raise CircuitOpen(f"circuit open for another {remaining:.1f}s")

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            if self._state is not CircuitState.OPEN:
                self._set(CircuitState.OPEN)

    def _set(self, state: CircuitState) -> None:
        self._state = state
        self._on_change(state)
