"""processors.delivery: the consumer's record hand-over without tasks when it completes at once,
and faust's own path whenever the delivery has to wait, the flow is suspended or a rebalance runs.

The consumer here is a bare `mode.Service` (where faust's `wait_first` comes from) with the two
attributes the hand-over reads; a counting task factory shows how many tasks each path makes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import mode
import pytest
from faust.transport.consumer import Consumer

from processors import delivery


@dataclass
class FakeApp:
    rebalancing: bool = False


class FakeConsumer(mode.Service):
    def __init__(self) -> None:
        super().__init__()
        self.app = FakeApp()
        self.suspend_flow = asyncio.Event()

    async def hand_over(self, *coros: Any) -> Any:
        return await delivery.eager_wait_first(self, *coros)


@pytest.fixture
async def tasks_made() -> AsyncIterator[list[Coroutine[Any, Any, Any]]]:
    """The coroutines the running loop was asked to wrap in tasks (`ensure_future`)."""
    made: list[Coroutine[Any, Any, Any]] = []
    loop = asyncio.get_running_loop()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    yield made
    loop.set_task_factory(None)


async def test_a_delivery_that_completes_at_once_makes_no_task(
    tasks_made: list[Coroutine[Any, Any, Any]],
) -> None:
    consumer = FakeConsumer()
    delivered: list[str] = []

    async def deliver() -> None:
        delivered.append("record")

    suspended = consumer.suspend_flow.wait()
    tasks_made.clear()  # (pytest-asyncio's task for this test)
    await consumer.hand_over(deliver(), suspended)
    assert delivered == ["record"]
    assert tasks_made == []
    assert inspect.getcoroutinestate(suspended) == inspect.CORO_CLOSED  # never awaited, no warning


async def test_faust_path_makes_four_tasks_per_record_for_comparison(
    tasks_made: list[Coroutine[Any, Any, Any]],
) -> None:
    consumer = FakeConsumer()

    async def deliver() -> None:
        return None

    tasks_made.clear()
    await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
    assert len(tasks_made) == 4


async def test_an_error_in_the_delivery_propagates() -> None:
    consumer = FakeConsumer()

    async def deliver() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        await consumer.hand_over(deliver(), consumer.suspend_flow.wait())


async def test_a_delivery_that_waits_finishes_through_faust_path() -> None:
    consumer = FakeConsumer()
    room = asyncio.Event()
    delivered: list[str] = []

    async def deliver() -> None:
        await room.wait()  # a full stream buffer
        delivered.append("record")

    handing = asyncio.create_task(consumer.hand_over(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not handing.done()
    room.set()
    await asyncio.wait_for(handing, 1)
    assert delivered == ["record"]


async def test_a_waiting_delivery_is_abandoned_when_the_flow_is_suspended() -> None:
    """As in faust: a rebalance must not wait for room in a stream's buffer."""
    consumer = FakeConsumer()
    started: list[str] = []

    async def deliver() -> None:
        started.append("record")
        await asyncio.Event().wait()  # never room

    handing = asyncio.create_task(consumer.hand_over(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    await asyncio.wait_for(handing, 1)
    assert started == ["record"]


@pytest.mark.parametrize("state", ["rebalancing", "suspended"])
async def test_during_a_rebalance_or_a_suspended_flow_faust_path_is_taken(
    state: str, tasks_made: list[Coroutine[Any, Any, Any]]
) -> None:
    consumer = FakeConsumer()
    if state == "rebalancing":
        consumer.app.rebalancing = True
    else:
        consumer.suspend_flow.set()

    async def deliver() -> None:
        return None

    tasks_made.clear()
    await consumer.hand_over(deliver(), consumer.suspend_flow.wait())
    assert len(tasks_made) == 4


def test_install_patches_faust_consumer_once() -> None:
    delivery.install()
    delivery.install()
    assert Consumer.wait_first is delivery.eager_wait_first
