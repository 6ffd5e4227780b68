"""Freshness monitor: stale feeds, silent producers and connections, once per transition."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.config import CacheSettings
from processors.freshness import (
    CONNECTION,
    PRODUCER_SILENT,
    STALE_DATA,
    DataType,
    FreshnessMonitor,
    FreshnessState,
    alert_key,
    feed_source,
    ttls_from,
)
from schemas.models import Alert, ConnectionState, ConnectionStatus, Severity

S = 1_000_000
T0 = 1_700_000_000 * S
TTLS = {
    DataType.TICKER: 1.0,
    DataType.TRADE: 10.0,
    DataType.BOOK: 5.0,
    DataType.OHLC: 120.0,
    DataType.BALANCE: 30.0,
}


def monitor() -> FreshnessMonitor:
    return FreshnessMonitor(TTLS, heartbeat_timeout_seconds=15)


def status(
    state: ConnectionState,
    ts: int,
    *,
    since: int | None = None,
    detail: str = "heartbeat",
    symbol: str | None = None,
) -> ConnectionStatus:
    return ConnectionStatus(
        exchange="kraken",
        state=state,
        since=ts if since is None else since,
        exchange_ts=ts,
        received_ts=ts,
        symbol=symbol,
        detail=detail,
    )


def stale(age: float, ts: int, *, active: bool = True, message: str = "") -> Alert:
    return Alert(
        source="kraken:BTC/USD:ticker",
        kind=STALE_DATA,
        severity=Severity.WARNING,
        active=active,
        message=message,
        ts=ts,
        exchange="kraken",
        symbol="BTC/USD",
        data_type="ticker",
        age_seconds=age,
        ttl_seconds=1.0,
    )


def test_a_feed_goes_stale_after_its_ttl_once_and_clears_when_data_returns() -> None:
    m = monitor()
    assert m.seen("kraken", "BTC/USD", DataType.TICKER, T0) == []
    assert m.check(T0 + S) == []  # exactly the ttl old is still fresh
    raised = m.check(T0 + 1_500_000)
    assert raised == [
        stale(1.5, T0 + 1_500_000, message="kraken BTC/USD ticker is 1.5 s old (ttl 1 s)")
    ]
    assert alert_key(raised[0]) == "kraken:BTC/USD:ticker:stale_data"
    assert m.check(T0 + 3 * S) == []  # still stale: nothing new
    assert m.active() == raised
    cleared = m.seen("kraken", "BTC/USD", DataType.TICKER, T0 + 4 * S)
    assert cleared == [
        stale(
            4.0,
            T0 + 4 * S,
            active=False,
            message="kraken BTC/USD ticker is fresh again after 4.0 s (ttl 1 s)",
        )
    ]
    assert m.active() == []
    assert m.seen("kraken", "BTC/USD", DataType.TICKER, T0 + 4_500_000) == []
    assert m.check(T0 + 5 * S) == []


def test_feeds_never_seen_and_data_types_without_a_ttl_raise_nothing() -> None:
    assert monitor().check(T0 + 10**12) == []
    only_tickers = FreshnessMonitor({DataType.TICKER: 1}, heartbeat_timeout_seconds=15)
    assert only_tickers.seen("kraken", "BTC/USD", DataType.BOOK, T0) == []
    assert only_tickers.check(T0 + 10**12) == []
    assert only_tickers.active() == []


def test_each_data_type_goes_stale_after_its_own_ttl() -> None:
    m = monitor()
    for data_type in (DataType.TICKER, DataType.TRADE, DataType.BOOK, DataType.OHLC):
        m.seen("kraken", "BTC/USD", data_type, T0)
    m.seen("kraken", None, DataType.BALANCE, T0)

    def raised(at_s: int) -> list[tuple[str, float, float | None]]:
        return [(a.source, a.ttl_seconds or 0, a.age_seconds) for a in m.check(T0 + at_s * S)]

    assert raised(6) == [("kraken:BTC/USD:book", 5, 6), ("kraken:BTC/USD:ticker", 1, 6)]
    assert raised(11) == [("kraken:BTC/USD:trade", 10, 11)]
    balance = m.check(T0 + 31 * S)
    assert [(a.source, a.symbol, a.data_type, a.message) for a in balance] == [
        ("kraken:balance", None, "balance", "kraken balance is 31.0 s old (ttl 30 s)")
    ]
    assert raised(121) == [("kraken:BTC/USD:ohlc", 120, 121)]
    assert [a.source for a in m.active()] == [
        "kraken:BTC/USD:book",
        "kraken:BTC/USD:ohlc",
        "kraken:BTC/USD:ticker",
        "kraken:BTC/USD:trade",
        "kraken:balance",
    ]


def test_ttls_come_from_the_cache_settings() -> None:
    cache = CacheSettings(
        price_ttl_seconds=2,
        trade_ttl_seconds=3,
        order_book_ttl_seconds=4,
        candle_ttl_seconds=5,
        balance_ttl_seconds=6,
    )
    assert ttls_from(cache) == {
        DataType.TICKER: 2,
        DataType.TRADE: 3,
        DataType.BOOK: 4,
        DataType.OHLC: 5,
        DataType.BALANCE: 6,
    }


def test_a_silent_producer_raises_critical_once_and_a_heartbeat_clears_it() -> None:
    m = monitor()
    assert m.heartbeat(status(ConnectionState.SUBSCRIBED, T0), T0) == []
    assert m.check(T0 + 15 * S) == []
    silent = Alert(
        source="kraken",
        kind=PRODUCER_SILENT,
        severity=Severity.CRITICAL,
        active=True,
        message="kraken producer is silent: last heartbeat 16.0 s ago (timeout 15 s)",
        ts=T0 + 16 * S,
        exchange="kraken",
        age_seconds=16.0,
        ttl_seconds=15.0,
    )
    assert m.check(T0 + 16 * S) == [silent]
    assert alert_key(silent) == "kraken:producer_silent"
    assert m.check(T0 + 30 * S) == []
    assert m.active() == [silent]
    back = m.heartbeat(status(ConnectionState.SUBSCRIBED, T0 + 40 * S), T0 + 40 * S)
    assert back == [
        msgspec.structs.replace(
            silent,
            active=False,
            message="kraken producer is back after 40.0 s of silence (timeout 15 s)",
            ts=T0 + 40 * S,
            age_seconds=40.0,
        )
    ]
    assert m.active() == []


def test_data_alone_never_arms_the_dead_mans_switch() -> None:
    m = monitor()
    m.seen("kraken", "BTC/USD", DataType.OHLC, T0)
    assert [a.kind for a in m.check(T0 + 100 * S)] == []


def test_a_connection_down_raises_escalates_and_clears_when_connected() -> None:
    m = monitor()
    assert m.heartbeat(status(ConnectionState.SUBSCRIBED, T0), T0) == []
    down = status(ConnectionState.DISCONNECTED, T0 + 2 * S, since=T0 + S, detail="socket closed")
    raised = m.heartbeat(down, T0 + 2 * S)
    assert raised == [
        Alert(
            source="kraken",
            kind=CONNECTION,
            severity=Severity.WARNING,
            active=True,
            message="kraken connection is disconnected for 1.0 s: socket closed",
            ts=T0 + 2 * S,
            exchange="kraken",
            age_seconds=1.0,
        )
    ]
    assert alert_key(raised[0]) == "kraken:connection"
    for state in (
        ConnectionState.DISCONNECTED,  # its heartbeat
        ConnectionState.RECONNECTING,
        ConnectionState.CONNECTING,
        ConnectionState.RESYNCING,
        ConnectionState.UNKNOWN,
    ):
        assert m.heartbeat(status(state, T0 + 3 * S), T0 + 3 * S) == []
    circuit = m.heartbeat(status(ConnectionState.CIRCUIT_OPEN, T0 + 4 * S), T0 + 4 * S)
    assert [(a.active, a.severity, a.message, a.age_seconds) for a in circuit] == [
        (True, Severity.CRITICAL, "kraken connection is circuit_open for 3.0 s", 3.0)
    ]
    assert m.active() == circuit
    cleared = m.heartbeat(status(ConnectionState.CONNECTED, T0 + 10 * S), T0 + 10 * S)
    assert [
        (a.source, a.kind, a.active, a.severity, a.message, a.age_seconds) for a in cleared
    ] == [
        (
            "kraken",
            CONNECTION,
            False,
            Severity.CRITICAL,
            "kraken connection is connected again after 9.0 s down",
            9.0,
        )
    ]
    assert m.heartbeat(status(ConnectionState.SUBSCRIBED, T0 + 11 * S), T0 + 11 * S) == []
    assert m.active() == []


def test_a_replayed_older_status_counts_as_life_but_does_not_reopen_an_alert() -> None:
    m = monitor()
    m.heartbeat(status(ConnectionState.DISCONNECTED, T0), T0)
    m.heartbeat(status(ConnectionState.CONNECTED, T0 + S), T0 + S)
    assert m.check(T0 + 20 * S) != []  # silent
    replayed = m.heartbeat(status(ConnectionState.DISCONNECTED, T0), T0 + 21 * S)
    assert [(a.kind, a.active) for a in replayed] == [(PRODUCER_SILENT, False)]
    assert m.active() == []


def test_backlog_data_clears_nothing_until_it_is_fresh_by_the_monitors_clock() -> None:
    m = monitor()
    m.seen("kraken", "BTC/USD", DataType.TICKER, T0)
    assert len(m.check(T0 + 5 * S)) == 1
    assert m.check(T0 + 2 * S) == []  # the clock never goes back
    assert m.seen("kraken", "BTC/USD", DataType.TICKER, T0 + 2 * S) == []  # still 3 s old
    assert [a.active for a in m.active()] == [True]
    cleared = m.seen("kraken", "BTC/USD", DataType.TICKER, T0 + 4_500_000)
    assert [(a.active, a.ts, a.age_seconds) for a in cleared] == [(False, T0 + 5 * S, 2.5)]


def test_ttls_and_the_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FreshnessMonitor({DataType.TICKER: 0}, heartbeat_timeout_seconds=15)
    with pytest.raises(ValueError, match="positive"):
        FreshnessMonitor(TTLS, heartbeat_timeout_seconds=0)


def scenario(m: FreshnessMonitor, start: int, stop: int) -> list[Alert]:
    out: list[Alert] = []
    for i in range(start, stop):
        now = T0 + i * 700_000
        if i % 3:
            out += m.seen("kraken", "BTC/USD", DataType.TICKER, now)
        alive = not 30 <= i < 70  # then a 28 s silence
        if alive and i % 7 == 0:
            out += m.heartbeat(status(ConnectionState.SUBSCRIBED, now), now)
        if alive and i % 11 == 0:
            out += m.heartbeat(status(ConnectionState.RECONNECTING, now), now)
        out += m.check(now + (i % 5) * S)
    return out


def test_the_same_calls_give_the_same_alerts_across_a_snapshot_and_restore() -> None:
    whole = monitor()
    expected = scenario(whole, 0, 120)
    assert {a.kind for a in expected} == {STALE_DATA, PRODUCER_SILENT, CONNECTION}
    assert scenario(monitor(), 0, 120) == expected

    first = monitor()
    before = scenario(first, 0, 60)
    blob = first.snapshot()
    state = msgspec.msgpack.decode(blob, type=FreshnessState)
    assert msgspec.msgpack.encode(state) == blob
    assert {a.kind for a in first.active()} == {PRODUCER_SILENT, STALE_DATA}
    resumed = monitor()
    resumed.restore(blob)
    assert resumed.active() == first.active()
    assert resumed.snapshot() == blob
    assert before + scenario(resumed, 60, 120) == expected
    assert resumed.active() == whole.active()


@settings(max_examples=200)
@given(st.lists(st.integers(1, 3 * S), min_size=1, max_size=40))
def test_alternating_seen_and_check_alternate_raise_and_clear(gaps: list[int]) -> None:
    m = monitor()
    last = T0
    m.seen("kraken", "BTC/USD", DataType.TICKER, last)
    for gap in gaps:
        now = last + gap
        raised = m.check(now)
        cleared = m.seen("kraken", "BTC/USD", DataType.TICKER, now)
        age = gap / S
        if gap > S:
            assert [(a.active, a.ts, a.age_seconds) for a in raised] == [(True, now, age)]
            assert [(a.active, a.ts, a.age_seconds) for a in cleared] == [(False, now, age)]
            assert alert_key(raised[0]) == alert_key(cleared[0])
        else:
            assert (raised, cleared) == ([], [])
        last = now
    assert m.active() == []


FEEDS = [("kraken", "BTC/USD", DataType.TICKER), ("kraken", None, DataType.BALANCE)]
operation = st.tuples(
    st.booleans(), st.sampled_from(range(len(FEEDS))), st.integers(-10 * S, 40 * S)
)


@settings(max_examples=200)
@given(st.lists(operation, min_size=1, max_size=60))
def test_any_sequence_alternates_raise_and_clear_per_feed_and_tracks_staleness(
    ops: list[tuple[bool, int, int]],
) -> None:
    m = monitor()
    clock, now = T0, T0
    last: dict[str, int] = {}
    expected: set[str] = set()  # a model: raised by a check, cleared by data fresh by the clock
    history: dict[str, list[bool]] = {}

    def stale(source: str) -> bool:
        return clock - last[source] > TTLS[DataType(source.rsplit(":", 1)[1])] * S

    for is_check, index, step in ops:
        now = max(T0, now + step)  # times may go back; the monitor's clock never does
        if is_check:
            out = m.check(now)
            clock = max(clock, now)
            expected = {source for source in last if stale(source)}
        else:
            exchange, symbol, data_type = FEEDS[index]
            out = m.seen(exchange, symbol, data_type, now)
            source = feed_source(exchange, symbol, data_type)
            last[source] = max(last.get(source, now), now)
            if not stale(source):
                expected.discard(source)
        for alert in out:
            assert (alert.kind, alert.exchange, alert.ts >= now) == (STALE_DATA, "kraken", True)
            history.setdefault(alert.source, []).append(alert.active)
        assert {a.source for a in m.active()} == expected
    for flags in history.values():
        assert flags == [i % 2 == 0 for i in range(len(flags))]


def test_alerts_active_before_a_restart_clear_on_the_first_data_after_it() -> None:
    before = FreshnessMonitor({DataType.TICKER: 1.0}, heartbeat_timeout_seconds=15)
    before.seen("kraken", "BTC/USD", DataType.TICKER, 1_000_000)
    (raised,) = before.check(5_000_000)
    assert raised.active
    assert raised.kind == "stale_data"

    after = FreshnessMonitor({DataType.TICKER: 1.0}, heartbeat_timeout_seconds=15)
    after.restore_active([raised])
    assert after.active() == [raised]
    assert after.check(6_000_000) == []  # raised once, not again after the restart
    (cleared,) = after.seen("kraken", "BTC/USD", DataType.TICKER, 6_500_000)
    assert (cleared.source, cleared.kind, cleared.active) == (raised.source, raised.kind, False)
    assert after.active() == []
