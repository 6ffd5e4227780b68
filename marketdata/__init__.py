"""crypton-marketdata: the single source of truth for real-time crypto market data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crypton-marketdata")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
