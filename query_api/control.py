"""Writes subscription requests to `md.control.v1`, where every producer replica reads them."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from marketdata.kafka.clients import make_producer
from schemas import topics as t
from schemas.codec import Codec
from schemas.models import Subscription


class KafkaControl:
    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._codec = Codec()

    async def start(self) -> None:
        """In the server's event loop (aiokafka binds to the loop it is created in)."""
        self._producer = make_producer(self._bootstrap)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def __call__(self, request: Subscription) -> None:
        if self._producer is None:
            raise RuntimeError("the control writer is not started")
        key = f"{request.exchange}:{request.symbol}".encode()
        await self._producer.send_and_wait(t.CONTROL.name, self._codec.encode(request), key=key)
