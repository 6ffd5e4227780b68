"""The processors' record hand-over: a record goes to the streams without a task when it can.

faust's consumer hands every fetched record to the streams with
`wait_first(callback(message), suspend_flow.wait())` (`faust/transport/consumer.py`, the drain
loop), so that a rebalance can interrupt a delivery waiting for room in a full stream buffer.
mode's `wait_first` makes four tasks for that (the delivery, the flow event, the service's
stopped and crashed events), waits with `asyncio.wait` and cancels three: at least two turns of
the event loop per record, for a delivery that nearly always completes at once.

`eager_wait_first` runs the delivery as an eager task instead (Python 3.12's
`asyncio.Task(..., eager_start=True)`): its first step runs right away, and when it completes
(room in the buffers: the usual case) nothing more is made. A delivery that has to wait takes
faust's path with its task, so a suspended flow still interrupts it.

**Never during a rebalance.** From `on_rebalance_start` to `on_rebalance_end` (revocation,
assignment, table recovery and the streams' resumption) faust's own path is used unchanged.
faust resumes the streams by resuming the input partitions, seeking them to the committed
offsets and then resuming the flow, which empties the stream buffers (the records are fetched
again after the seek). Records handed over in bulk between those steps were emptied from the
buffers while the drain loop moved its read offset past the refetched ones, which it then
dropped as already read: the worker stalled with its commit stuck (the kill -9 restart test in
`tests/integration/test_processors_kafka.py` stalled in three runs of three with the fast path
on during rebalances, and passes with it off).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport import consumer as faust_consumer

_faust_wait_first = faust_consumer.Consumer.wait_first


async def eager_wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
    """`Consumer.wait_first`, with the drain loop's hand-over made eager where it is safe."""
    if (
        len(coros) == 2
        and asyncio.iscoroutine(coros[0])
        and not self.app.rebalancing
        and not self.suspend_flow.is_set()
    ):
        delivery, suspended = coros
        task = asyncio.Task(delivery, loop=self.loop, eager_start=True)
        if not task.done():
            return await _faust_wait_first(self, task, suspended, timeout=timeout)
        if asyncio.iscoroutine(suspended):
            suspended.close()  # never started: nothing waits on it
        task.result()  # an error propagates as from faust's path
        return None  # the drain loop does not read the result
    return await _faust_wait_first(self, *coros, timeout=timeout)


def install() -> None:
    """Patch faust's consumer class (every app of the process; idempotent)."""
    faust_consumer.Consumer.wait_first = eager_wait_first  # type: ignore[method-assign]
