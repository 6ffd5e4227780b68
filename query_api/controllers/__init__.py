"""REST controllers: market data, account, system (status, subscriptions, health)."""
