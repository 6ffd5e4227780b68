"""One instrument's candles in every timeframe, seeded from and reconciled with the exchange's OHLC.

Pure (no faust, no I/O, no clock): the candle agent feeds it trades and exchange candles and
publishes what it returns, so replaying the same input gives the same output.

- **Trades** build candles in every configured timeframe (`CandleBuilder`). Forming candles are
  emitted with a preview of their indicators; a closed candle moves the indicator state.
- **Exchange history** (REST backfill, then the exchange's own candle stream) seeds every window
  before the first one we built from trades, so indicators are warm at start. An exchange candle
  is final once it says so or a later window of the same timeframe appears.
- **The first window built from trades is partial**: the feed started inside it. When it closes,
  the exchange's candle for that window (when known) is published instead of ours.
- **Reconciliation**: every later closed 1m candle is compared with the exchange's final 1m
  candle for the same window (prices at the instrument's precision, volume within a size tick).
  A mismatch is counted and raises a `candle_mismatch` alert; the next match clears it. The
  exchange's candle then stands for the window (ours missed trades, or saw wrong ones).
- **Gaps**: a window we closed without any trade of ours (the feed was down) but for which the
  exchange has a final candle is filled with the exchange's candle.

Trades and exchange candles come from two topics, read by two agents, so either may run ahead.
The closed candle a window ends with does not depend on which: it is `settled(ours, theirs)`
once both are known, whichever came first (a correction is published when theirs comes later),
ours alone when the exchange never sends a final one, and theirs alone for a window we had no
trade in. Only the indicators may differ: they move once per window, with what was known then.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from msgspec.structs import replace

from marketdata.config.processors import IndicatorSettings
from processors.candles import TIMEFRAME_US, CandleBuilder
from processors.indicator_state import IndicatorState
from schemas.models import OHLCV, Alert, CandleSource, IndicatorSet, Severity, Trade

RECONCILED_TIMEFRAME: Final = "1m"
_KEEP_WINDOWS: Final = 16


class SymbolSeries(msgspec.Struct):
    """Everything the candle agent keeps per `exchange:symbol` (a changelog-backed table value)."""

    exchange: str
    symbol: str
    builders: dict[str, CandleBuilder]
    indicators: dict[str, IndicatorState]
    exchange_latest: dict[str, OHLCV] = msgspec.field(default_factory=dict)
    """Per timeframe: the exchange's newest candle (final once a later window appears)."""
    exchange_final: dict[str, dict[int, OHLCV]] = msgspec.field(default_factory=dict)
    """Final exchange candles of windows we have not closed yet (the partial first window of
    each timeframe, and 1m windows to reconcile)."""
    awaiting: dict[int, OHLCV] = msgspec.field(default_factory=dict)
    """Our closed 1m candles whose exchange counterpart is not final yet."""
    history_through: dict[str, int] = msgspec.field(default_factory=dict)
    """Per timeframe: open_ts of the newest history candle published (a restarted producer
    backfills the same history again: published once)."""
    awaiting_first: dict[str, OHLCV] = msgspec.field(default_factory=dict)
    """Per timeframe: our closed partial first window while the exchange's is not final yet."""
    closed_recent: dict[str, list[int]] = msgspec.field(default_factory=dict)
    """Per timeframe: open_ts of our recent closed windows (ascending), to tell a gap from a
    re-sent candle."""
    offsets: dict[str, int] = msgspec.field(default_factory=dict)
    """Last applied Kafka offset per source topic: a record at or below it is a replay."""
    mismatches: int = 0
    mismatch_active: bool = False
    forming_every_us: int = 0
    forming_emitted: dict[str, int] = msgspec.field(default_factory=dict)
    """Per timeframe: exchange time of the last forming candle published."""
    forming_dirty: list[str] = msgspec.field(default_factory=list)
    """Timeframes whose forming candle changed since it was last published."""
    indicators_held: dict[str, IndicatorSet] = msgspec.field(default_factory=dict)
    """Per timeframe: the newest indicator set of history seeding, not published yet. The
    indicators topic is a table (the latest set per key), and a backfill closes hundreds of
    windows per timeframe in a burst: only the last set of a burst is published, by the
    caller's timer (`flush_forming`), unless a newer set of the timeframe goes out first."""

    @classmethod
    def new(
        cls,
        exchange: str,
        symbol: str,
        timeframes: Iterable[str],
        grace_us: int,
        indicators: IndicatorSettings,
        forming_every_us: int = 0,
    ) -> SymbolSeries:
        tfs = list(timeframes)
        return cls(
            exchange=exchange,
            symbol=symbol,
            forming_every_us=forming_every_us,
            builders={tf: CandleBuilder(exchange, symbol, tf, grace_us=grace_us) for tf in tfs},
            indicators={tf: IndicatorState.new(indicators) for tf in tfs},
        )

    def is_replay(self, topic: str, offset: int) -> bool:
        """True for a record already applied (a restart replays from the last commit)."""
        if offset <= self.offsets.get(topic, -1):
            return True
        self.offsets[topic] = offset
        return False


@dataclass(slots=True)
class Step:
    """What one input produced, in publication order."""

    candles: list[OHLCV] = field(default_factory=list)
    indicators: list[IndicatorSet] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    indicators_moved: bool = False
    late: int = 0
    reconciled: int = 0
    mismatched: int = 0
    gaps_filled: int = 0


def on_trade(series: SymbolSeries, trade: Trade) -> Step:
    step = Step()
    for tf, builder in series.builders.items():
        late_before = builder.late_dropped
        builder.price_precision = trade.price_precision
        builder.size_precision = trade.size_precision
        # Closes first: a preview of the new window's indicators must start from the state
        # that includes the window just closed, and the topic's latest value per key is then
        # the forming candle's preview, not the previous close.
        for candle in sorted(builder.add(trade), key=lambda c: not c.closed):
            _emit(series, tf, candle, step)
        _fill_gaps(series, tf, builder, step)
        step.late += builder.late_dropped - late_before
    return step


def on_clock(series: SymbolSeries, now_us: int) -> Step:
    """Close windows by time alone (a quiet market); the caller decides the feed is quiet."""
    step = Step()
    for tf, builder in series.builders.items():
        for candle in builder.advance(now_us):
            _emit(series, tf, candle, step)
        _fill_gaps(series, tf, builder, step)
    return step


def flush_forming(series: SymbolSeries) -> Step:
    """Publish the forming candles held back by `forming_every_us` and the indicator sets held
    back by history seeding (the caller's timer)."""
    step = Step()
    step.indicators.extend(series.indicators_held.values())
    series.indicators_held.clear()
    for tf in series.forming_dirty:
        candle = series.builders[tf].forming()
        if candle is not None:
            _forming(series, tf, candle, step)
    series.forming_dirty.clear()
    return step


def _forming(series: SymbolSeries, tf: str, candle: OHLCV, step: Step) -> None:
    series.forming_emitted[tf] = candle.exchange_ts
    step.candles.append(candle)
    if (preview := series.indicators[tf].preview(candle)) is not None:
        series.indicators_held.pop(tf, None)  # older than the preview: it would overwrite it
        step.indicators.append(preview)


def on_exchange_candle(series: SymbolSeries, candle: OHLCV) -> Step:
    step = Step()
    tf = candle.timeframe
    builder = series.builders.get(tf)
    if builder is None:  # a timeframe we do not keep
        return step
    latest = series.exchange_latest.get(tf)
    if candle.closed:
        # History (REST backfill) may arrive after the live stream's first updates: a closed
        # candle is final whatever its age, and seeding accepts it only if it is new to it.
        if latest is None or candle.open_ts >= latest.open_ts:
            series.exchange_latest[tf] = candle
        _final_exchange_candle(series, builder, candle, step, history=True)
        return step
    if latest is not None:
        if candle.open_ts < latest.open_ts or (
            candle.open_ts == latest.open_ts and candle.exchange_ts < latest.exchange_ts
        ):
            return step  # an older version, or a window that is final already
        if candle.open_ts > latest.open_ts and not latest.closed:
            final = replace(latest, closed=True)
            _final_exchange_candle(series, builder, final, step, history=False)
    series.exchange_latest[tf] = candle
    return step


def _final_exchange_candle(
    series: SymbolSeries, builder: CandleBuilder, candle: OHLCV, step: Step, *, history: bool
) -> None:
    """The exchange will not change this candle any more. `history`: the exchange itself says
    it is closed (its REST OHLC), rather than a later window having appeared on the stream."""
    tf, first, open_ts = candle.timeframe, builder.first_open_ts, candle.open_ts
    finals = series.exchange_final.setdefault(tf, {})
    if first is None or open_ts < first:
        # Before our first trade: seed. Only from history: the stream's opening snapshot holds
        # the last few windows and may arrive first; seeding those would make the indicators
        # refuse the 720 older windows of the backfill that follows.
        if history:
            through = series.history_through.get(tf, -1)
            _apply_closed(series, tf, candle, step, publish=open_ts > through, hold=True)
            series.history_through[tf] = max(through, open_ts)
        if first is None:  # our trades may yet cover this window: settled when ours closes
            _remember(finals, open_ts, candle)
        return
    if open_ts == first:
        ours = series.awaiting_first.get(tf)
        if ours is not None and ours.open_ts == open_ts:  # ours closed it, provisionally
            del series.awaiting_first[tf]
            step.candles.append(_settled(ours, candle, partial=True))
        elif open_ts in builder.windows:  # the partial window: used when ours closes
            finals[open_ts] = candle
        return
    if tf == RECONCILED_TIMEFRAME and (ours := series.awaiting.pop(open_ts, None)):
        _reconcile(series, ours, candle, step)
        if (settled := _settled(ours, candle)) is not ours:
            step.candles.append(settled)
        return
    if (
        open_ts in builder.windows
        or open_ts + builder.length_us + builder.grace_us > builder.watermark
    ):
        # Ours is still forming (compared when it closes), or not begun (a gap if it never
        # does: `_fill_gaps`).
        _remember(finals, open_ts, candle)
        return
    _fill_gap(series, tf, candle, step)


def _fill_gaps(series: SymbolSeries, tf: str, builder: CandleBuilder, step: Step) -> None:
    """Final exchange candles of windows that closed without a trade of ours: the feed was down."""
    finals, first = series.exchange_final.get(tf), builder.first_open_ts
    if not finals or first is None:
        return
    for open_ts in sorted(finals):
        if open_ts + builder.length_us + builder.grace_us > builder.watermark:
            break
        if open_ts < first:  # history that seeded the indicators: nothing of ours to settle
            del finals[open_ts]
        elif open_ts > first and open_ts not in builder.windows:
            _fill_gap(series, tf, finals.pop(open_ts), step)


def _fill_gap(series: SymbolSeries, tf: str, candle: OHLCV, step: Step) -> None:
    """A window without a trade of ours takes the exchange's candle, stamped with the window's
    end and no input `seq` (which of the exchange's copies of it comes first is timing)."""
    end = candle.open_ts + TIMEFRAME_US[tf] - 1
    candle = msgspec.structs.replace(candle, closed=True, exchange_ts=end, received_ts=end, seq=0)
    recent = series.closed_recent.setdefault(tf, [])
    if candle.open_ts in recent or (recent and candle.open_ts < recent[0]):
        return  # ours closed it (a re-sent candle), or it is older than we remember
    recent.append(candle.open_ts)
    recent.sort()
    del recent[:-_KEEP_WINDOWS]
    step.gaps_filled += 1  # a window we never saw a trade in: the feed was down
    if candle.open_ts > series.indicators[tf].last_open_ts:
        _apply_closed(series, tf, candle, step)
    else:
        step.candles.append(candle)


def _settled(ours: OHLCV, theirs: OHLCV, *, partial: bool = False) -> OHLCV:
    """The closed candle a window keeps once ours and the exchange's final one are both known,
    the same whichever came first: ours when they agree, else the exchange's values (always
    for the partial first window, which missed the trades before our feed started).

    The exchange sends a window's final candle more than once (its stream, then a restarted
    producer's REST history), with the same values but their own times and sequence numbers,
    and which of them meets our close depends on timing. So a settled candle takes its times
    from ours (our last trade in the window, when we received it) and no input `seq`."""
    if not partial and candles_agree(ours, theirs):
        return ours
    return msgspec.structs.replace(
        theirs,
        closed=True,
        exchange_ts=ours.exchange_ts,
        received_ts=ours.received_ts,
        seq=0,
    )


def _remember(windows: dict[int, OHLCV], open_ts: int, candle: OHLCV) -> None:
    windows[open_ts] = candle
    _prune(windows)


def _prune(windows: dict[int, Any]) -> None:
    for old in sorted(windows)[:-_KEEP_WINDOWS]:
        del windows[old]


def _emit(series: SymbolSeries, tf: str, candle: OHLCV, step: Step) -> None:
    if not candle.closed:
        last = series.forming_emitted.get(tf)
        if (
            last is None
            or candle.trades == 1
            or candle.exchange_ts - last >= series.forming_every_us
        ):
            _forming(series, tf, candle, step)
            if tf in series.forming_dirty:
                series.forming_dirty.remove(tf)
        elif tf not in series.forming_dirty:
            series.forming_dirty.append(tf)
        return
    builder = series.builders[tf]
    open_ts = candle.open_ts
    theirs = series.exchange_final.get(tf, {}).pop(open_ts, None)
    if open_ts == builder.first_open_ts:  # ours missed the trades before the feed started
        if theirs is not None:
            candle = _settled(candle, theirs, partial=True)
        else:  # the exchange's forming candle stands in until its final one comes
            series.awaiting_first[tf] = candle
            if (latest := _latest_of(series, tf, open_ts)) is not None:
                candle = msgspec.structs.replace(
                    latest, closed=True, received_ts=candle.received_ts
                )
    elif tf == RECONCILED_TIMEFRAME:
        if theirs is not None:
            _reconcile(series, candle, theirs, step)
            candle = _settled(candle, theirs)
        else:
            _remember(series.awaiting, open_ts, candle)
    recent = series.closed_recent.setdefault(tf, [])
    recent.append(open_ts)
    del recent[:-_KEEP_WINDOWS]
    # Published even if the indicators saw this window already (seeded from history that
    # overlapped our first trades): a forming candle of ours may have followed the seed.
    _apply_closed(series, tf, candle, step, publish=True)


def _latest_of(series: SymbolSeries, tf: str, open_ts: int) -> OHLCV | None:
    latest = series.exchange_latest.get(tf)
    return latest if latest is not None and latest.open_ts == open_ts else None


def _apply_closed(
    series: SymbolSeries,
    tf: str,
    candle: OHLCV,
    step: Step,
    *,
    publish: bool = False,
    hold: bool = False,
) -> None:
    """Move the indicators with a closed candle and publish it; a window the indicators saw
    already is published only if `publish`. `hold`: the indicator set waits for the timer in
    `indicators_held`, replacing the one waiting there (history seeding)."""
    indicator = series.indicators[tf].close(candle)
    if indicator is None and not publish:
        return
    step.candles.append(candle if candle.closed else msgspec.structs.replace(candle, closed=True))
    if indicator is None:
        return
    step.indicators_moved = True
    if hold:
        series.indicators_held[tf] = indicator
    else:
        series.indicators_held.pop(tf, None)
        step.indicators.append(indicator)


def candles_agree(ours: OHLCV, theirs: OHLCV) -> bool:
    """Same prices at the instrument's precision, volume within one size tick."""
    p = ours.price_precision

    def same(a: float, b: float) -> bool:
        return round(a, p) == round(b, p)

    tick = 10.0**-ours.size_precision
    return (
        same(ours.open, theirs.open)
        and same(ours.high, theirs.high)
        and same(ours.low, theirs.low)
        and same(ours.close, theirs.close)
        and math.isclose(ours.volume, theirs.volume, rel_tol=1e-9, abs_tol=tick)
    )


def _reconcile(series: SymbolSeries, ours: OHLCV, theirs: OHLCV, step: Step) -> None:
    source = f"{series.exchange}:{series.symbol}:{RECONCILED_TIMEFRAME}"
    if candles_agree(ours, theirs):
        step.reconciled += 1
        if series.mismatch_active:
            series.mismatch_active = False
            step.alerts.append(
                _mismatch_alert(series, source, ours, "candles agree with the exchange again")
            )
        return
    series.mismatches += 1
    step.mismatched += 1
    series.mismatch_active = True
    detail = (
        f"1m candle at {ours.open_ts} differs from the exchange's: "
        f"ours o/h/l/c/v {ours.open}/{ours.high}/{ours.low}/{ours.close}/{ours.volume} "
        f"({ours.trades} trades), theirs {theirs.open}/{theirs.high}/{theirs.low}/"
        f"{theirs.close}/{theirs.volume} ({theirs.trades} trades)"
    )
    step.alerts.append(_mismatch_alert(series, source, ours, detail, active=True))


def _mismatch_alert(
    series: SymbolSeries, source: str, candle: OHLCV, message: str, *, active: bool = False
) -> Alert:
    return Alert(
        source=source,
        kind="candle_mismatch",
        severity=Severity.WARNING,
        active=active,
        message=f"{series.exchange} {series.symbol}: {message}",
        ts=candle.open_ts + TIMEFRAME_US[RECONCILED_TIMEFRAME],
        exchange=series.exchange,
        symbol=series.symbol,
        data_type="ohlc",
        seq=series.mismatches,
    )


__all__ = ["CandleSource", "Step", "SymbolSeries", "on_clock", "on_exchange_candle", "on_trade"]
