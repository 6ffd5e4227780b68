"""A fixed-size ring of floats that msgspec can serialize (a deque cannot be)."""

from __future__ import annotations

import msgspec


class Ring(msgspec.Struct):
    """The last `size` values in arrival order; O(1) push, serializable as plain lists."""

    size: int
    values: list[float] = msgspec.field(default_factory=list)
    head: int = 0  # once full: the index of the oldest value, the next to be overwritten

    @property
    def full(self) -> bool:
        return len(self.values) == self.size

    def __len__(self) -> int:
        return len(self.values)

    @property
    def oldest(self) -> float:
        return self.values[self.head] if self.full else self.values[0]

    def push(self, value: float) -> None:
        if self.full:
            self.values[self.head] = value
            self.head = (self.head + 1) % self.size
        else:
            self.values.append(value)

    def ordered(self) -> list[float]:
        return self.values[self.head :] + self.values[: self.head]
