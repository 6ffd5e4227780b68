"""Volume profile: traded volume by price bucket over the last `window` candles.

The window's price range (lowest low to highest high) is cut into `buckets` equal buckets; each
candle's volume goes to the bucket holding its typical price (high + low + close) / 3. The range
moves with the window, so the profile is rebuilt from the window on each update: O(window), a
bounded constant (100 candles by default), not a function of the history's length.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from schemas.models import VolumeBucket


@dataclass(frozen=True, slots=True)
class _Candle:
    high: float
    low: float
    close: float
    volume: float


class VolumeProfile:
    __slots__ = ("_window", "buckets")

    def __init__(self, buckets: int = 24, window: int = 100) -> None:
        if buckets < 1 or window < 1:
            raise ValueError("buckets and window must be at least 1")
        self.buckets = buckets
        self._window: deque[_Candle] = deque(maxlen=window)

    def update(self, high: float, low: float, close: float, volume: float) -> list[VolumeBucket]:
        self._window.append(_Candle(high, low, close, volume))
        return self._profile(self._window)

    def peek(self, high: float, low: float, close: float, volume: float) -> list[VolumeBucket]:
        candles = (
            list(self._window)[1:]
            if len(self._window) == self._window.maxlen
            else list(self._window)
        )
        return self._profile([*candles, _Candle(high, low, close, volume)])

    def _profile(self, candles: deque[_Candle] | list[_Candle]) -> list[VolumeBucket]:
        lowest = min(c.low for c in candles)
        highest = max(c.high for c in candles)
        if highest <= lowest:  # one price only: a single bucket holds everything
            return [VolumeBucket(lowest, highest, sum(c.volume for c in candles))]
        width = (highest - lowest) / self.buckets
        volumes = [0.0] * self.buckets
        for c in candles:
            typical = (c.high + c.low + c.close) / 3
            index = min(int((typical - lowest) / width), self.buckets - 1)
            volumes[index] += c.volume
        return [
            VolumeBucket(lowest + i * width, lowest + (i + 1) * width, v)
            for i, v in enumerate(volumes)
        ]
