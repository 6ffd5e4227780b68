"""What the API process holds: the read model, the fan-out hub, the feed and the control writer.

Built once in `main()` (or by a test) and handed to `create_app`; request handlers get it as the
`api` dependency. Nothing here is a module-level global.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry

from marketdata.config import Settings
from query_api.readmodel.feed import Feed
from query_api.readmodel.store import ReadModel
from query_api.ws.fanout import Hub
from schemas.models import Subscription

ControlWriter = Callable[[Subscription], Awaitable[None]]


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class ApiState:
    settings: Settings
    model: ReadModel = field(default_factory=ReadModel)
    hub: Hub = field(default_factory=Hub)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    feed: Feed | None = None
    control: ControlWriter | None = None
    clock: Callable[[], int] = now_us
    started: float = field(default_factory=time.time)
    always_ready: bool = False
    """Tests that fill the model by hand have no feed to wait for."""

    def __post_init__(self) -> None:
        self.model.book_top_n = self.settings.processors.book_top_n  # the book table's depth

    @property
    def ready(self) -> bool:
        return self.always_ready or (self.feed is not None and self.feed.ready)

    def age(self, received_ts: int) -> float:
        return max(0.0, (self.clock() - received_ts) / 1e6)


Api = NamedDependency[ApiState]
"""How handlers ask for the state: `api: Api`."""
