"""Capped exponential back-off with full jitter, for reconnect loops.

delay(attempt) = uniform(0, min(cap, initial * multiplier**attempt)) ("full jitter", which spreads
a herd of reconnecting clients best). tenacity's `wait_random_exponential` implements the same
curve for retry decorators; a reconnect loop needs an explicit attempt counter that resets after
a healthy connection and a delay it can publish before sleeping, so the formula lives here.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        multiplier: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or cap < initial or multiplier < 1:
            raise ValueError("need 0 < initial <= cap and multiplier >= 1")
        self.initial = initial
        self.cap = cap
        self.multiplier = multiplier
        self.attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay for an attempt (no jitter)."""
        # Cap the exponent first so a long outage cannot overflow a float.
        exponent = min(attempt, 64)
        return min(self.cap, self.initial * self.multiplier**exponent)

    def next_delay(self) -> float:
        """The delay before the next attempt; advances the attempt counter."""
        delay = self._rng.uniform(0, self.ceiling(self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Call after a connection proved healthy."""
        self.attempt = 0
