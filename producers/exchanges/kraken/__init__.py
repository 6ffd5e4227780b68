"""Kraken: WebSocket v2 for market data and balances, REST for history, snapshots and balances."""
