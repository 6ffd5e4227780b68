"""WebSocket endpoints of the query API: the plain `/ws` feed and the SignalR-compatible hub."""
