"""Technical indicators as incremental state: O(1) per closed candle, equal to pandas-ta.

Each indicator takes closed-candle values one at a time with `update(value)` and returns its
value, or None while it warms up. `peek(value)` answers what `update` would return if the forming
candle closed at `value`, without changing the state (candles are emitted while they form).
Nothing here imports faust or touches I/O.
"""

from processors.indicators.bands import Bollinger, BollingerValue
from processors.indicators.moving import Ema, Sma
from processors.indicators.oscillators import Macd, MacdValue, Rsi
from processors.indicators.volume_profile import VolumeProfile

__all__ = ["Bollinger", "BollingerValue", "Ema", "Macd", "MacdValue", "Rsi", "Sma", "VolumeProfile"]
