"""Answering a client's requests on one Kraken WS v2 connection: ping, subscribe, unsubscribe.

Kraken acknowledges every symbol of a (un)subscribe separately, success or error, then sends the
snapshot. Two of its quirks are kept on purpose because clients meet them live: unsubscribing
something not subscribed answers `Subscription Not Found` with `"method": "subscribe"`, and a
private subscription without a valid token answers `ESession:Invalid session` with `channel` and
`"status": "error"`.
"""

from __future__ import annotations

from simulator.exchanges.kraken.auth import TokenStore
from simulator.exchanges.kraken.connection import KrakenConnection
from simulator.exchanges.kraken.frames import (
    KrakenAck,
    KrakenAckResult,
    KrakenErrorAck,
    KrakenPong,
    encode,
    rfc3339,
)
from simulator.exchanges.kraken.hub import KrakenHub
from simulator.exchanges.kraken.requests import (
    ALREADY_SUBSCRIBED,
    INVALID_SESSION,
    NOT_FOUND,
    Ping,
    RequestError,
    Subscription,
    parse_request,
)

_WARNINGS = {
    "ohlc": ["timestamp is deprecated, use interval_begin"],
    "instrument": ["tick_size is deprecated, use price_increment"],
}


class KrakenSession:
    """Handles the requests of every connection against one hub."""

    def __init__(self, hub: KrakenHub, tokens: TokenStore) -> None:
        self.hub = hub
        self.tokens = tokens
        self.symbols = frozenset(hub.model.symbols)

    def handle(self, conn: KrakenConnection, text: str | bytes, time_in_ns: int) -> None:
        request = parse_request(text, private=conn.private, symbols=self.symbols)
        time_in = rfc3339(time_in_ns)
        if isinstance(request, Ping):
            pong = KrakenPong(
                method="pong", req_id=request.req_id, time_in=time_in, time_out=self._now()
            )
            self.hub.send(conn, encode(pong))
        elif isinstance(request, RequestError):
            self._error(conn, request, time_in)
        else:
            for item in request:
                if isinstance(item, RequestError):
                    self._error(conn, item, time_in)
                elif item.method == "subscribe":
                    self._subscribe(conn, item, time_in)
                else:
                    self._unsubscribe(conn, item, time_in)

    def _now(self) -> str:
        return rfc3339(self.hub.clock.now_ns())

    def _error(self, conn: KrakenConnection, error: RequestError, time_in: str) -> None:
        ack = KrakenErrorAck(
            channel=error.channel,
            error=error.error,
            method=error.method,
            req_id=error.req_id,
            status="error" if error.session else None,
            success=False,
            symbol=error.symbol,
            time_in=time_in,
            time_out=self._now(),
        )
        self.hub.send(conn, encode(ack))

    def _ack(self, conn: KrakenConnection, sub: Subscription, time_in: str) -> None:
        subscribing = sub.method == "subscribe"
        result = KrakenAckResult(
            channel=sub.channel,
            depth=sub.depth if sub.channel == "book" else None,
            event_trigger=sub.event_trigger if sub.channel == "ticker" else None,
            interval=sub.interval if sub.channel == "ohlc" else None,
            snapshot=sub.snapshot if subscribing else None,
            symbol=sub.symbol,
            warnings=_WARNINGS.get(sub.channel) if subscribing else None,
        )
        ack = KrakenAck(
            method=sub.method,
            result=result,
            success=True,
            time_in=time_in,
            time_out=self._now(),
            req_id=sub.req_id,
        )
        self.hub.send(conn, encode(ack))

    def _subscribe(self, conn: KrakenConnection, sub: Subscription, time_in: str) -> None:
        if sub.channel == "balances" and not (
            sub.token and self.tokens.valid(sub.token, self.hub.clock.now_ns())
        ):
            self._session_error(conn, sub, time_in)
            return
        if sub.key in conn.subscriptions:
            error = RequestError(
                error=ALREADY_SUBSCRIBED, method="subscribe", req_id=sub.req_id, symbol=sub.symbol
            )
            self._error(conn, error, time_in)
            return
        if sub.token:
            self.tokens.hold(sub.token)
        self._ack(conn, sub, time_in)
        self.hub.add(conn, sub)

    def _unsubscribe(self, conn: KrakenConnection, sub: Subscription, time_in: str) -> None:
        existing = conn.subscriptions.get(sub.key)
        if existing is None or (sub.channel == "book" and existing.depth != sub.depth):
            error = RequestError(
                error=NOT_FOUND, method="subscribe", req_id=sub.req_id, symbol=sub.symbol
            )
            self._error(conn, error, time_in)
            return
        self._ack(conn, sub, time_in)
        self.release(conn, existing)

    def release(self, conn: KrakenConnection, sub: Subscription) -> None:
        self.hub.remove(conn, sub)
        if sub.token:
            self.tokens.release(sub.token)

    def close(self, conn: KrakenConnection) -> None:
        """Forget a connection that has gone, releasing the tokens its subscriptions held."""
        for sub in list(conn.subscriptions.values()):
            self.release(conn, sub)
        self.hub.detach(conn)

    def _session_error(self, conn: KrakenConnection, sub: Subscription, time_in: str) -> None:
        error = RequestError(
            error=INVALID_SESSION,
            method=sub.method,
            req_id=sub.req_id,
            channel=sub.channel,
            session=True,
        )
        self._error(conn, error, time_in)
