"""The query API: REST and WebSocket (plain and SignalR) access to the market-data read model."""
