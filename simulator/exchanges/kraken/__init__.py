"""Kraken Spot: WS v2 (public `/v2`, private `/v2-auth`) and REST (`/0/public`, `/0/private`).

Point a Kraken client at `ws://HOST:PORT/v2`, `ws://HOST:PORT/v2-auth` and `http://HOST:PORT`
instead of `wss://ws.kraken.com/v2`, `wss://ws-auth.kraken.com/v2` and `https://api.kraken.com`.
"""
