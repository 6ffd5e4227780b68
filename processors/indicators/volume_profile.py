"""Volume profile: traded volume by price bucket over the last `window` candles.

The window's price range (lowest low to highest high) is cut into `buckets` equal buckets; each
candle's volume goes to the bucket holding its typical price (high + low + close) / 3. The range
moves with the window, so the profile is rebuilt from the window on each update: O(window), a
bounded constant (100 candles by default), not a function of the history's length.
"""

from __future__ import annotations

import msgspec

from schemas.models import VolumeBucket


class _Candle(msgspec.Struct, frozen=True, array_like=True):
    high: float
    low: float
    close: float
    volume: float


class VolumeProfile(msgspec.Struct):
    buckets: int = 24
    window: int = 100
    candles: list[_Candle] = msgspec.field(default_factory=list)
    head: int = 0  # once full: the index of the oldest candle

    def __post_init__(self) -> None:
        if self.buckets < 1 or self.window < 1:
            raise ValueError("buckets and window must be at least 1")

    def _ordered(self) -> list[_Candle]:
        return self.candles[self.head :] + self.candles[: self.head]

    def update(self, high: float, low: float, close: float, volume: float) -> list[VolumeBucket]:
        candle = _Candle(high, low, close, volume)
        if len(self.candles) == self.window:
            self.candles[self.head] = candle
            self.head = (self.head + 1) % self.window
        else:
            self.candles.append(candle)
        return self._profile(self.candles)

    def peek(self, high: float, low: float, close: float, volume: float) -> list[VolumeBucket]:
        candles = self._ordered()
        if len(candles) == self.window:
            candles = candles[1:]
        return self._profile([*candles, _Candle(high, low, close, volume)])

    def _profile(self, candles: list[_Candle]) -> list[VolumeBucket]:
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
