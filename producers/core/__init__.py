"""Machinery every adapter shares: back-off, rate limits, circuit breaker, book state."""
