"""Conflation keeps each window's final value, the order per key and the interval between sends."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.core.conflate import Conflator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_value_of_a_key_goes_out_at_once() -> None:
    conflator: Conflator[str] = Conflator(1.0, Clock())
    assert conflator.offer("k", 0, "a") == ["a"]


def test_values_inside_the_interval_wait_and_only_the_latest_goes_out() -> None:
    clock = Clock()
    conflator: Conflator[str] = Conflator(1.0, clock)
    conflator.offer("k", 0, "a")
    clock.now = 0.2
    assert conflator.offer("k", 0, "b") == []
    clock.now = 0.5
    assert conflator.offer("k", 0, "c") == []
    assert conflator.due() == []  # not yet a second since "a"
    clock.now = 1.0
    assert conflator.due() == ["c"]
    assert conflator.conflated == 1  # "b" was replaced by "c"
    assert conflator.due() == []


def test_a_new_window_releases_the_final_value_of_the_previous_one_first() -> None:
    clock = Clock()
    conflator: Conflator[str] = Conflator(1.0, clock)
    conflator.offer("k", 0, "w0-first")
    clock.now = 0.1
    conflator.offer("k", 0, "w0-last")
    clock.now = 0.2
    assert conflator.offer("k", 60, "w1-first") == ["w0-last", "w1-first"]
    assert conflator.pending == 0


def test_keys_are_independent() -> None:
    clock = Clock()
    conflator: Conflator[str] = Conflator(1.0, clock)
    assert conflator.offer("a", 0, "a1") == ["a1"]
    assert conflator.offer("b", 0, "b1") == ["b1"]
    clock.now = 0.5
    assert conflator.offer("a", 0, "a2") == []
    assert conflator.drain() == ["a2"]
    assert conflator.forget("b") is None
    assert conflator.offer("b", 0, "b2") == ["b2"]  # a forgotten key starts afresh


def test_zero_interval_passes_everything_through() -> None:
    conflator: Conflator[int] = Conflator(0.0, Clock())
    assert [v for i in range(5) for v in conflator.offer("k", 0, i)] == [0, 1, 2, 3, 4]


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Conflator(-1.0)


# (key, window step, clock advance, call due() afterwards)
steps = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.booleans(),
        st.floats(min_value=0, max_value=0.7),
        st.booleans(),
    ),
    max_size=60,
)


@given(steps)
def test_every_windows_final_value_goes_out_in_order_and_never_faster_than_the_interval(
    plan: list[tuple[str, bool, float, bool]],
) -> None:
    clock = Clock()
    conflator: Conflator[tuple[str, int, int]] = Conflator(0.5, clock)
    windows = dict.fromkeys("abc", 0)
    offered: list[tuple[str, int, int]] = []
    sent: list[tuple[float, tuple[str, int, int]]] = []
    for n, (key, next_window, advance, tick) in enumerate(plan):
        clock.now += advance
        if next_window:
            windows[key] += 1
        value = (key, windows[key], n)
        offered.append(value)
        sent += [(clock.now, v) for v in conflator.offer(key, windows[key], value)]
        if tick:
            sent += [(clock.now, v) for v in conflator.due()]
    sent += [(clock.now, v) for v in conflator.drain()]
    assert len(offered) == len(sent) + conflator.conflated, "each value sent or counted, once"

    for key in "abc":
        mine = [v for v in offered if v[0] == key]
        out = [(at, v) for at, v in sent if v[0] == key]
        ns = [v[2] for _, v in out]
        assert ns == sorted(set(ns)), "a key's values go out once each, in arrival order"
        finals = {v[1]: v for v in mine}  # the last value offered in each window
        assert set(finals.values()) <= {v for _, v in out}, "a window's final value was lost"
        for (t0, v0), (t1, v1) in itertools.pairwise(out):
            same_window = v0[1] == v1[1]
            assert not same_window or t1 - t0 >= 0.5 or v1 == finals[v1[1]], (
                "two values of one window went out within the interval"
            )
