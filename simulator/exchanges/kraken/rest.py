"""Kraken REST on Litestar: `/0/public/<Method>` (GET or POST) and `/0/private/<Method>` (POST).

Like Kraken, every answer is `{"error": [...], "result": ...}` with HTTP 200, errors included; the
injected `http429` fault is the one exception (an HTTP-level limit, as a proxy would answer).
Private calls are verified on the exact body bytes received, form-encoded or JSON, before any
work is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request, Response, Router, post, route
from litestar.datastructures import State
from litestar.enums import HttpMethod, MediaType
from litestar.params import FromPath

from simulator.exchanges.kraken import rest_market as market
from simulator.exchanges.kraken.auth import RATE_LIMITED
from simulator.exchanges.kraken.exchange import KrakenExchange
from simulator.exchanges.kraken.rest_market import KrakenRestError

UNKNOWN_METHOD = "EGeneral:Unknown method"
Params = dict[str, str]


class _Ok(msgspec.Struct):
    error: list[str]
    result: object


class _Failed(msgspec.Struct):
    error: list[str]


class RestBalanceEx(msgspec.Struct):
    balance: str
    hold_trade: str


class RestToken(msgspec.Struct):
    token: str
    expires: int


def _json(body: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(body), media_type=MediaType.JSON, status_code=status)


class KrakenRest:
    """The REST methods of one simulated Kraken."""

    def __init__(self, exchange: KrakenExchange) -> None:
        self.exchange = exchange
        self.public_methods: dict[str, Callable[[Params], object]] = {
            "Time": lambda _: market.server_time(self._now()),
            "SystemStatus": lambda _: market.system_status(self._now()),
            "Assets": lambda p: market.assets(exchange.catalog, p.get("asset")),
            "AssetPairs": lambda p: market.asset_pairs(exchange.catalog, p.get("pair")),
            "Ticker": self._ticker,
            "OHLC": self._ohlc,
            "Depth": self._depth,
            "Trades": self._trades,
        }
        self.private_methods: dict[str, Callable[[Params], object]] = {
            "Balance": self._balance,
            "BalanceEx": self._balance_ex,
            "GetWebSocketsToken": self._token,
        }

    def _now(self) -> int:
        return self.exchange.clock.now_ns()

    def answer(self, result: Callable[[], object]) -> Response[bytes]:
        """Run one call through the injected REST faults and Kraken's error envelope."""
        fault = self.exchange.faults.take_rest_fault()
        if fault == "http429":
            self.exchange.count_rest("HTTP 429")
            return Response(b"Too Many Requests", media_type=MediaType.TEXT, status_code=429)
        if fault == "rate_limit":
            self.exchange.count_rest(RATE_LIMITED)
            return _json(_Failed([RATE_LIMITED]))
        try:
            payload = result()
        except KrakenRestError as exc:
            self.exchange.count_rest(str(exc))
            status = 404 if str(exc) == UNKNOWN_METHOD else 200
            return _json(_Failed([str(exc)]), status)
        self.exchange.count_rest(None)
        return _json(_Ok([], payload))

    def public(self, method: str, params: Params) -> Response[bytes]:
        handler = self.public_methods.get(method)
        return self.answer(lambda: _call(handler, params))

    def private(self, method: str, path: str, headers: Params, body: str) -> Response[bytes]:
        handler = self.private_methods.get(method)

        def verified() -> object:
            if handler is None:
                raise KrakenRestError(UNKNOWN_METHOD)
            params = _body_params(body)
            error = self.exchange.auth.check(
                path=path,
                api_key=headers.get("api-key"),
                api_sign_header=headers.get("api-sign"),
                body=body,
                nonce=params.get("nonce"),
                now_ns=self._now(),
            )
            if error is not None:
                raise KrakenRestError(error)
            return handler(params)

        return self.answer(verified)

    # -- public ----------------------------------------------------------------------------------

    def _ticker(self, params: Params) -> object:
        pairs = market.pairs_param(self.exchange.catalog, params.get("pair"))
        return market.ticker(self.exchange.model, pairs, self._now())

    def _ohlc(self, params: Params) -> object:
        pair = market.one_pair(self.exchange.catalog, params.get("pair"))
        interval = market.integer(params.get("interval"), 1) or 1
        since = market.integer(params.get("since"))
        return market.ohlc(self.exchange.model, pair, interval, since, self._now())

    def _depth(self, params: Params) -> object:
        pair = market.one_pair(self.exchange.catalog, params.get("pair"))
        count = market.integer(params.get("count"), 100) or 100
        return market.depth(self.exchange.model, pair, count, self._now())

    def _trades(self, params: Params) -> object:
        pair = market.one_pair(self.exchange.catalog, params.get("pair"))
        since = market.integer(params.get("since"))
        count = market.integer(params.get("count"), market.TRADES_MAX) or market.TRADES_MAX
        return market.trades(self.exchange.model, pair, since, count)

    # -- private ---------------------------------------------------------------------------------

    def _balance(self, _params: Params) -> object:
        account = self.exchange.account
        out = {}
        for a in self.exchange.catalog.assets:
            precision = account.assets[a.code].precision
            out[a.rest_id] = market.fixed(account.balances[a.code], precision, precision)
        return out

    def _balance_ex(self, _params: Params) -> object:
        account = self.exchange.account
        out = {}
        for a in self.exchange.catalog.assets:
            precision = account.assets[a.code].precision
            out[a.rest_id] = RestBalanceEx(
                balance=market.fixed(account.balances[a.code], precision, precision),
                hold_trade=market.fixed(account.holds[a.code], precision, precision),
            )
        return out

    def _token(self, _params: Params) -> object:
        token = self.exchange.tokens.issue(self._now())
        return RestToken(token=token, expires=round(self.exchange.config.token_ttl_seconds))


def _call(handler: Callable[[Params], object] | None, params: Params) -> object:
    if handler is None:
        raise KrakenRestError(UNKNOWN_METHOD)
    return handler(params)


def _body_params(body: str) -> Params:
    """Form-encoded (classic) or JSON body parameters, as strings."""
    text = body.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            raise KrakenRestError(market.INVALID_ARGUMENTS) from None
        if not isinstance(loaded, dict):
            raise KrakenRestError(market.INVALID_ARGUMENTS)
        return {str(k): str(v) for k, v in loaded.items()}
    return dict(parse_qsl(text, keep_blank_values=True))


def kraken_rest_router(exchange: KrakenExchange) -> Router:
    """The Litestar router serving Kraken's REST paths for `exchange`."""
    rest = KrakenRest(exchange)

    @route("/0/public/{method:str}", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200)
    async def public(request: Request[Any, Any, State], method: FromPath[str]) -> Response[bytes]:
        params: Params = dict(request.query_params.items())
        if request.method == HttpMethod.POST:
            params.update(_safe_params((await request.body()).decode("utf-8", "replace")))
        return rest.public(method, params)

    @post("/0/private/{method:str}", status_code=200)
    async def private(request: Request[Any, Any, State], method: FromPath[str]) -> Response[bytes]:
        body = (await request.body()).decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return rest.private(method, request.url.path, headers, body)

    return Router(path="/", route_handlers=[public, private])


def _safe_params(body: str) -> Params:
    try:
        return _body_params(body)
    except KrakenRestError:
        return {}
