"""Volume profile by hand: buckets over the window's range, volume at the typical price."""

from __future__ import annotations

from processors.indicators.volume_profile import VolumeProfile


def test_volume_lands_in_the_bucket_of_the_typical_price() -> None:
    vp = VolumeProfile(buckets=4, window=3)
    vp.update(high=110, low=100, close=105, volume=1)  # typical 105
    vp.update(high=120, low=110, close=115, volume=2)  # typical 115
    profile = vp.update(high=140, low=120, close=140, volume=3)  # typical 133.3
    assert [(b.price_low, b.price_high) for b in profile] == [
        (100, 110),
        (110, 120),
        (120, 130),
        (130, 140),
    ]
    assert [b.volume for b in profile] == [1, 2, 0, 3]
    assert sum(b.volume for b in profile) == 6


def test_the_window_slides_and_peek_changes_nothing() -> None:
    vp = VolumeProfile(buckets=2, window=2)
    vp.update(10, 10, 10, 5)
    vp.update(20, 20, 20, 7)
    peeked = vp.peek(30, 30, 30, 1)
    assert [b.volume for b in peeked] == [7, 1]  # the oldest candle left the window
    assert [b.volume for b in vp.update(30, 30, 30, 1)] == [7, 1]


def test_a_single_price_is_one_bucket() -> None:
    (only,) = VolumeProfile(buckets=8, window=5).update(5, 5, 5, 2.5)
    assert (only.price_low, only.price_high, only.volume) == (5, 5, 2.5)
