"""Kraken REST: I/O only. Public GETs, signed private POSTs, limits and a circuit breaker.

Before a call goes out: the circuit must be closed (or half-open for a trial), the configured
client budget (requests per second and per minute) must have room, and for private calls Kraken's
own call counter must have room. Kraken answers errors as HTTP 200 with an `error` array; those
and HTTP failures become `ExchangeError`, whose `retryable` says whether trying again can help.
Rate-limit answers slow the counter down adaptively.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping

import httpx
import msgspec
from pydantic import SecretStr

from marketdata.logs import get_logger
from producers.core.circuit import CircuitBreaker
from producers.core.ratelimit import ClientLimiter, KrakenCallCounter
from producers.errors import ExchangeError
from producers.exchanges.kraken.auth import NonceSource, api_sign
from schemas.models import CircuitState

log = get_logger("producers.kraken.rest")

_ENVELOPE = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ERRORS = msgspec.json.Decoder(list[str])


class KrakenRest:
    def __init__(
        self,
        base_url: str,
        *,
        limiter: ClientLimiter,
        counter: KrakenCallCounter,
        circuit: CircuitBreaker,
        api_key: SecretStr | None = None,
        secret: SecretStr | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "crypton-marketdata/1"},
        )
        self._limiter = limiter
        self._counter = counter
        self._circuit = circuit
        self._key = api_key
        self._secret = secret
        self._nonce = NonceSource()

    @property
    def circuit_state(self) -> CircuitState:
        return self._circuit.state

    @property
    def rate_limit_used(self) -> float:
        return self._counter.used

    @property
    def has_keys(self) -> bool:
        return bool(self._key and self._secret)

    async def close(self) -> None:
        await self._http.aclose()

    async def public(self, method: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """GET /0/public/<method>; returns the raw JSON of `result`."""
        return await self._call(
            lambda: self._http.get(f"/0/public/{method}", params=dict(params or {})),
            method,
        )

    async def private(self, method: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """POST /0/private/<method>, signed; returns the raw JSON of `result`."""
        if self._key is None or self._secret is None:
            raise ExchangeError("kraken", [f"{method}: no API key configured"])
        await self._counter.acquire(
            2 if method in ("Ledgers", "QueryLedgers", "TradesHistory") else 1
        )
        path = f"/0/private/{method}"
        secret = self._secret

        def send() -> Awaitable[httpx.Response]:
            nonce = self._nonce.next()
            body = urllib.parse.urlencode({"nonce": nonce, **dict(params or {})})
            assert self._key is not None
            headers = {
                "API-Key": self._key.get_secret_value(),
                "API-Sign": api_sign(path, nonce, body, secret.get_secret_value()),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            return self._http.post(path, content=body, headers=headers)

        return await self._call(send, method)

    async def _call(self, send: Callable[[], Awaitable[httpx.Response]], method: str) -> bytes:
        self._circuit.before_call()
        async with self._limiter:
            try:
                response = await send()
            except httpx.HTTPError as exc:
                self._circuit.record_failure()
                raise ExchangeError("kraken", [f"{method}: {type(exc).__name__}: {exc}"]) from None
        try:
            result = self._result(response, method)
        except ExchangeError as exc:
            if exc.rate_limited:
                self._counter.rate_limited()
            if exc.retryable:
                self._circuit.record_failure()
            raise
        self._circuit.record_success()
        return result

    @staticmethod
    def _result(response: httpx.Response, method: str) -> bytes:
        if response.status_code != 200:
            raise ExchangeError(
                "kraken", [f"{method}: HTTP {response.status_code}"], status=response.status_code
            )
        try:
            envelope = _ENVELOPE.decode(response.content)
            errors = _ERRORS.decode(envelope["error"]) if "error" in envelope else []
        except (msgspec.DecodeError, KeyError):
            raise ExchangeError(
                "kraken", [f"{method}: malformed answer"], status=response.status_code
            ) from None
        if errors:
            raise ExchangeError("kraken", errors)
        if "result" not in envelope:
            raise ExchangeError("kraken", [f"{method}: answer without result"])
        return bytes(envelope["result"])
