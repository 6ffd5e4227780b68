"""Protocol-faithful local exchanges driven by a seeded market model.

The simulator is the offline default exchange of `make run`, the peer of the producers' contract
tests and the load source of the benchmarks. `simulator.market` is the venue-free model (pure,
no I/O); `simulator.exchanges.<venue>` speaks one venue's wire protocol on top of it;
`simulator.server` serves it over HTTP and WebSocket.
"""
