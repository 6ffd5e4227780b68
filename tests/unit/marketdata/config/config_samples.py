"""The spec's configuration file, verbatim, and a helper to write variants of it (tests only)."""

from __future__ import annotations

from pathlib import Path

SPEC = """\
marketData:
  service:
    host: "localhost"
    port: 5001
  cache:
    priceTtlSeconds: 1
    orderBookTtlSeconds: 5
    balanceTtlSeconds: 30
  exchanges:
    kraken:
      enabled: true
      apiKey: "${KRAKEN_API_KEY}"
      secretKey: "${KRAKEN_SECRET}"
      rateLimit:
        requestsPerMinute: 15
        requestsPerSecond: 5
      symbols:
        - "BTC/USD"
        - "ETH/USD"
        - "SOL/USD"
  signalr:
    hubPath: "/hubs/marketdata"
    enableAuthentication: false
"""

KEY = "kraken-key-7f3a9c"
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
KEYS_ENV = {"KRAKEN_API_KEY": KEY, "KRAKEN_SECRET": SECRET}
ROOT = Path(__file__).resolve().parents[4]


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def variant(*replacements: tuple[str, str]) -> str:
    """The spec with each (old, new) replaced once; fails loudly if `old` is not there."""
    text = SPEC
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text
