"""The publisher's backlog: nothing shed within the bound; past it, tickers conflate, raw frames
go, books are shed a symbol at a time until a snapshot, facts wait; every loss is counted."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.backlog import ENTRY_OVERHEAD, Admission, Backlog, Entry, Policy, Shed, State
from schemas import topics

_order = itertools.count()
SIZE = 4 + 5 + ENTRY_OVERHEAD  # what an entry with a 5-character key costs


def entry(topic: str, key: str = "k:BTC", *, snapshot: bool = False, since: float = 0.0) -> Entry:
    policy = {
        topics.TICKER.name: Policy.LATEST,
        topics.BOOK.name: Policy.BOOK,
        topics.RAW.name: Policy.AUDIT,
    }.get(topic, Policy.KEEP)
    return Entry(
        order=next(_order),
        topic=topic,
        key=key,
        value=b"x" * 4,
        timestamp_ms=0,
        since=since,
        policy=policy,
        snapshot=snapshot,
        symbol=key.split(":")[1],
    )


def drain(backlog: Backlog) -> list[Entry]:
    out = []
    while (e := backlog.next()) is not None:
        backlog.sent(e)
        out.append(e)
    return out


def test_within_the_bound_nothing_is_shed_and_publish_order_is_kept() -> None:
    backlog = Backlog(max_records=10, max_bytes=10 * SIZE)
    published = [
        entry(topics.TICKER.name),
        entry(topics.TRADES.name),
        entry(topics.BOOK.name, snapshot=True),
        entry(topics.BOOK.name),
        entry(topics.RAW.name, "k:BOO"),
        entry(topics.TICKER.name),
    ]

    answers = [backlog.admit(e) for e in published]

    assert answers == [Admission.ACCEPTED] * 6
    assert [e.order for e in drain(backlog)] == [e.order for e in published]
    assert backlog.records == 6
    assert backlog.bytes == 6 * SIZE
    assert not backlog.shed


def test_past_the_bound_tickers_conflate_to_the_latest_of_each_key() -> None:
    backlog = Backlog(max_records=4, max_bytes=1 << 20)
    btc = [entry(topics.TICKER.name, "k:BTC") for _ in range(2)]
    eth = [entry(topics.TICKER.name, "k:ETH") for _ in range(2)]
    for e in (btc[0], eth[0], btc[1], eth[1]):
        backlog.admit(e)

    trade = entry(topics.TRADES.name)
    assert backlog.admit(trade) is Admission.ACCEPTED
    newer = entry(topics.TICKER.name, "k:BTC")
    assert backlog.admit(newer) is Admission.ACCEPTED

    assert [e.order for e in drain(backlog)] == [eth[1].order, trade.order, newer.order]
    assert backlog.shed == Counter({(topics.TICKER.name, Shed.SUPERSEDED): 3})
    assert {e.state for e in (*btc, eth[0])} == {State.SHED}


def test_raw_frames_make_room_for_facts_oldest_first_and_never_for_each_other() -> None:
    backlog = Backlog(max_records=3, max_bytes=1 << 20)
    raws = [entry(topics.RAW.name, f"k:r{i}") for i in range(3)]
    for e in raws:
        backlog.admit(e)

    assert backlog.admit(entry(topics.RAW.name, "k:r3")) is Admission.SHED
    first = entry(topics.TRADES.name)
    second = entry(topics.OHLC.name)
    assert backlog.admit(first) is Admission.ACCEPTED
    assert backlog.admit(second) is Admission.ACCEPTED

    assert [e.order for e in drain(backlog)] == [raws[2].order, first.order, second.order]
    assert backlog.shed == Counter({(topics.RAW.name, Shed.AUDIT): 3})


def test_books_are_shed_whole_and_gated_until_their_next_snapshot() -> None:
    backlog = Backlog(max_records=4, max_bytes=1 << 20)
    btc = [entry(topics.BOOK.name, "k:BTC", snapshot=True), entry(topics.BOOK.name, "k:BTC")]
    eth = [entry(topics.BOOK.name, "k:ETH", snapshot=True)]
    for e in (*btc, *eth):
        backlog.admit(e)
    backlog.admit(entry(topics.TRADES.name))

    trade = entry(topics.TRADES.name)
    assert backlog.admit(trade) is Admission.ACCEPTED  # every waiting book update went for it
    assert backlog.gated == {"k:BTC": "BTC", "k:ETH": "ETH"}
    assert backlog.admit(entry(topics.BOOK.name, "k:BTC")) is Admission.SHED
    snapshot = entry(topics.BOOK.name, "k:BTC", snapshot=True)
    assert backlog.admit(snapshot) is Admission.ACCEPTED
    delta = entry(topics.BOOK.name, "k:BTC")
    assert backlog.admit(delta) is Admission.ACCEPTED

    assert backlog.gated == {"k:ETH": "ETH"}
    assert [e.order for e in drain(backlog)][-3:] == [trade.order, snapshot.order, delta.order]
    assert backlog.shed == Counter(
        {(topics.BOOK.name, Shed.BOOK_RESYNC): 3, (topics.BOOK.name, Shed.AWAITING_SNAPSHOT): 1}
    )


def test_facts_are_never_shed_they_wait_and_a_raw_frame_displaces_nothing() -> None:
    backlog = Backlog(max_records=2, max_bytes=1 << 20)
    book = entry(topics.BOOK.name, snapshot=True)
    backlog.admit(book)
    backlog.admit(entry(topics.TRADES.name))

    assert backlog.admit(entry(topics.RAW.name)) is Admission.SHED
    assert book.state is State.QUEUED
    assert backlog.admit(entry(topics.BALANCES.name)) is Admission.ACCEPTED  # the book went
    waiting = entry(topics.TRADES.name)
    assert backlog.admit(waiting) is Admission.FULL
    assert waiting.state is State.QUEUED
    assert backlog.records == 2

    for e in drain(backlog):
        backlog.acked(e)
    assert backlog.admit(waiting) is Admission.ACCEPTED
    assert all(topic not in (topics.TRADES.name, topics.BALANCES.name) for topic, _ in backlog.shed)


def test_failed_records_go_again_first_in_their_original_order() -> None:
    backlog = Backlog(max_records=100, max_bytes=1 << 20)
    published = [entry(topics.TRADES.name, f"k:{i % 2}") for i in range(6)]
    for e in published:
        backlog.admit(e)
    for _ in range(4):
        handed = backlog.next()
        assert handed is not None
        backlog.sent(handed)

    backlog.acked(published[0])
    backlog.failed(published[3])
    backlog.failed(published[1])
    backlog.acked(published[2])
    assert backlog.requeue_failed() == 2

    assert [e.order for e in drain(backlog)] == [published[i].order for i in (1, 3, 4, 5)]
    assert backlog.records == 4


def test_oldest_since_is_the_oldest_record_not_yet_acknowledged() -> None:
    backlog = Backlog(max_records=100, max_bytes=1 << 20)
    first, second, third = (entry(topics.TRADES.name, since=t) for t in (1.0, 2.0, 3.0))
    for e in (first, second, third):
        backlog.admit(e)
    assert backlog.oldest_since() == 1.0
    for e in drain(backlog)[:2]:
        backlog.acked(e)
    assert backlog.oldest_since() == 3.0
    backlog.acked(third)
    assert backlog.oldest_since() is None


TOPICS = [topics.TICKER.name, topics.TRADES.name, topics.BOOK.name, topics.RAW.name]
operation = st.one_of(
    st.tuples(st.just("admit"), st.sampled_from(TOPICS), st.sampled_from(["k:AAA", "k:BBB"])),
    st.tuples(st.just("snapshot"), st.just(topics.BOOK.name), st.sampled_from(["k:AAA", "k:BBB"])),
    st.tuples(st.sampled_from(["send", "ack", "fail", "requeue"]), st.just(""), st.just("")),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=80), st.integers(3, 12))
def test_every_record_is_accounted_for_and_no_fact_is_ever_shed(
    ops: list[tuple[str, str, str]], bound: int
) -> None:
    backlog = Backlog(max_records=bound, max_bytes=1 << 20)
    admitted: list[Entry] = []
    in_flight: list[Entry] = []
    waiting_facts: list[Entry] = []
    for op, topic, key in ops:
        if op in ("admit", "snapshot"):
            e = entry(topic, key, snapshot=op == "snapshot")
            if backlog.admit(e) is Admission.FULL:
                waiting_facts.append(e)
            else:
                admitted.append(e)
        elif op == "send" and (handed := backlog.next()) is not None:
            backlog.sent(handed)
            in_flight.append(handed)
        elif op == "ack" and in_flight:
            backlog.acked(in_flight.pop(0))
        elif op == "fail" and in_flight:
            backlog.failed(in_flight.pop())
        elif op == "requeue":
            backlog.requeue_failed()

    live = [e for e in admitted if e.state not in (State.SHED, State.DONE)]
    shed = [e for e in admitted if e.state is State.SHED]
    assert backlog.records == len(live) <= bound
    assert backlog.bytes == len(live) * SIZE
    assert sum(backlog.shed.values()) == len(shed)
    assert all(e.policy is not Policy.KEEP for e in shed)
    assert all(e.policy is Policy.KEEP for e in waiting_facts)


def test_records_that_reached_kafka_are_let_go_of() -> None:
    """Found by the soak benchmark: the producer's memory grew with every raw frame and book
    update published, because the shedding indexes kept them after Kafka acknowledged them."""
    backlog = Backlog(max_records=100, max_bytes=100 * SIZE)
    for _ in range(1_000):
        for e in (
            entry(topics.RAW.name, "k:BOO"),
            entry(topics.BOOK.name),
            entry(topics.TRADES.name),
        ):
            assert backlog.admit(e) is Admission.ACCEPTED
        for e in drain(backlog):
            backlog.acked(e)

    assert backlog.records == 0
    assert len(backlog._audit) <= 1
    assert len(backlog._books) <= 1
    assert len(backlog._queue) == 0
