"""Every indicator of one instrument and timeframe, as one serializable state.

Closed candles move the state (`close`); a forming candle only previews what the values would be
if it closed now (`preview`), so emitting while a candle forms never disturbs the series. The
state is a msgspec Struct: a processor keeps it in a changelog-backed table and recovers it
exactly after a crash.
"""

from __future__ import annotations

import msgspec

from marketdata.config.processors import IndicatorSettings
from processors.indicators import Bollinger, BollingerValue, Ema, Macd, MacdValue, Rsi, Sma
from processors.indicators.volume_profile import VolumeProfile
from schemas.models import OHLCV, IndicatorSet, VolumeBucket


class IndicatorState(msgspec.Struct):
    rsi: Rsi
    macd: Macd
    bollinger: Bollinger
    ema: dict[str, Ema]
    sma: dict[str, Sma]
    volume_profile: VolumeProfile
    last_open_ts: int = -1
    """open_ts of the newest closed candle applied; older or equal ones are replays and ignored."""
    closed: int = 0

    @classmethod
    def new(cls, settings: IndicatorSettings) -> IndicatorState:
        return cls(
            rsi=Rsi(settings.rsi_period),
            macd=Macd.of(settings.macd.fast, settings.macd.slow, settings.macd.signal),
            bollinger=Bollinger(settings.bollinger.period, settings.bollinger.stddev),
            ema={str(p): Ema(p) for p in settings.ema_periods},
            sma={str(p): Sma(p) for p in settings.sma_periods},
            volume_profile=VolumeProfile(
                settings.volume_profile.buckets, settings.volume_profile.window_candles
            ),
        )

    def close(self, candle: OHLCV) -> IndicatorSet | None:
        """Apply a closed candle; None when it is not newer than the last one applied."""
        if candle.open_ts <= self.last_open_ts:
            return None
        self.last_open_ts = candle.open_ts
        self.closed += 1
        c = candle.close
        return _indicator_set(
            candle,
            rsi=self.rsi.update(c),
            macd=self.macd.update(c),
            bands=self.bollinger.update(c),
            ema={k: e.update(c) for k, e in self.ema.items()},
            sma={k: s.update(c) for k, s in self.sma.items()},
            profile=self.volume_profile.update(candle.high, candle.low, c, candle.volume),
        )

    def preview(self, candle: OHLCV) -> IndicatorSet | None:
        """The values if the forming candle closed now; the state is unchanged."""
        if candle.open_ts <= self.last_open_ts:
            return None
        c = candle.close
        return _indicator_set(
            candle,
            rsi=self.rsi.peek(c),
            macd=self.macd.peek(c),
            bands=self.bollinger.peek(c),
            ema={k: e.peek(c) for k, e in self.ema.items()},
            sma={k: s.peek(c) for k, s in self.sma.items()},
            profile=self.volume_profile.peek(candle.high, candle.low, c, candle.volume),
        )


def _indicator_set(
    candle: OHLCV,
    *,
    rsi: float | None,
    macd: MacdValue | None,
    bands: BollingerValue | None,
    ema: dict[str, float | None],
    sma: dict[str, float | None],
    profile: list[VolumeBucket],
) -> IndicatorSet:
    return IndicatorSet(
        exchange=candle.exchange,
        symbol=candle.symbol,
        timeframe=candle.timeframe,
        open_ts=candle.open_ts,
        exchange_ts=candle.exchange_ts,
        received_ts=candle.received_ts,
        closed=candle.closed,
        rsi=rsi,
        macd=macd.macd if macd else None,
        macd_signal=macd.signal if macd else None,
        macd_hist=macd.histogram if macd else None,
        bb_upper=bands.upper if bands else None,
        bb_middle=bands.middle if bands else None,
        bb_lower=bands.lower if bands else None,
        ema={k: v for k, v in ema.items() if v is not None},
        sma={k: v for k, v in sma.items() if v is not None},
        volume_profile=profile,
    )
