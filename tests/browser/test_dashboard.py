"""The dashboard in a real (headless) Chromium against the real API: prices tick and flash, the
chart draws candles with its indicators, positions show live P&L, the service and feed indicators
follow the API going away and coming back, and old values are marked stale with their age."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest

from schemas import topics as t
from schemas.models import ConnectionState
from tests.browser.harness import (
    CANDLES,
    LiveServer,
    Page,
    book,
    candle,
    candle_minute,
    position,
    price,
    status,
)

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

TIMEOUT = 10_000


def row(page: Any, symbol: str) -> Any:
    return page.locator(f'#tickers-body tr[data-symbol="{symbol}"]')


def test_the_api_serves_the_page_and_the_vendored_chart_library(server: LiveServer) -> None:
    with urllib.request.urlopen(server.url + "/") as answer:
        assert answer.headers["content-type"].startswith("text/html")
        assert b'id="tickers"' in answer.read()
    vendor = "/vendor/lightweight-charts.standalone.production.mjs"
    with urllib.request.urlopen(server.url + vendor) as answer:
        assert "javascript" in answer.headers["content-type"]
        assert b"Lightweight Charts" in answer.read(400)
    # the API's own routes still win over the static files
    with urllib.request.urlopen(server.url + "/api/prices") as answer:
        assert answer.headers["content-type"].startswith("application/json")


def test_prices_update_live_and_flash_up_and_down(page: Page, server: LiveServer) -> None:
    p = page.page
    btc = row(p, "BTC/USD")
    expect(p.locator("#tickers-body tr")).to_have_count(3, timeout=TIMEOUT)
    expect(btc.locator('[data-field="last"]')).to_have_text("100.00")

    assert server.push(t.PRICES.name, price("BTC/USD", 104.25)) == 1  # one browser subscribed
    expect(btc.locator('[data-field="last"]')).to_have_text("104.25", timeout=TIMEOUT)
    expect(btc).to_have_attribute("data-direction", "up")
    expect(btc).to_have_class(re.compile(r"\bflash-up\b"))
    expect(btc).to_have_attribute("data-stale", "false")
    page.shot("prices-flash-up")

    server.push(t.PRICES.name, price("BTC/USD", 101.0))
    expect(btc.locator('[data-field="last"]')).to_have_text("101.00", timeout=TIMEOUT)
    expect(btc).to_have_attribute("data-direction", "down")
    expect(btc).to_have_class(re.compile(r"\bflash-down\b"))
    assert int(btc.get_attribute("data-flash-count")) == 2
    # the flash fades; the direction colour stays
    expect(btc).not_to_have_class(re.compile(r"\bflash-"), timeout=TIMEOUT)
    # a symbol that was not there yet appears live
    server.push(t.PRICES.name, price("XRP/USD", 0.5321))
    expect(row(p, "XRP/USD").locator('[data-field="last"]')).to_have_text("0.53", timeout=TIMEOUT)


def test_the_chart_draws_candles_and_indicators_and_follows_new_candles(
    page: Page, server: LiveServer
) -> None:
    p = page.page
    chart = p.locator("#chart")
    expect(chart).to_have_attribute("data-symbol", "BTC/USD", timeout=TIMEOUT)
    expect(chart).to_have_attribute("data-candle-count", str(CANDLES), timeout=TIMEOUT)
    assert chart.locator("canvas").count() > 0
    assert p.evaluate("window.dashboard.candleCount()") == CANDLES
    lengths = p.evaluate("window.dashboard.seriesLengths()")
    assert lengths["candles"] == CANDLES
    assert all(n > 0 for n in lengths["ema"]), lengths
    for name in ("bbUpper", "rsi", "macd", "macdSignal", "macdHist"):
        assert lengths[name] > 0, (name, lengths)
    legend = p.locator("#indicator-legend")
    expect(legend).to_contain_text("RSI 61.5")  # the server's value wins over ours
    expect(legend).to_contain_text("EMA9 102.5")
    assert p.evaluate("window.dashboard.state.connection") == "live"

    # the forming candle closes and the next one opens: live over the candles channel
    server.push(t.CANDLES.name, candle("BTC/USD", candle_minute(CANDLES - 1), 104.0))
    server.push(
        t.CANDLES.name,
        candle("BTC/USD", candle_minute(CANDLES - 1) + 60_000_000, 105.0, closed=False),
    )
    expect(chart).to_have_attribute("data-candle-count", str(CANDLES + 1), timeout=TIMEOUT)
    page.shot("chart-candles-indicators")

    # another timeframe with no candles yet says so
    p.select_option("#chart-timeframe", "5m")
    expect(p.locator("#chart-empty")).to_contain_text("No 5m candles for BTC/USD", timeout=TIMEOUT)
    expect(chart).to_have_attribute("data-candle-count", "0")


def test_order_book_of_the_selected_symbol_updates_live(page: Page, server: LiveServer) -> None:
    p = page.page
    expect(p.locator("#book-symbol")).to_have_text("BTC/USD", timeout=TIMEOUT)
    expect(p.locator('#book-bids tr[data-test="book-bid"]')).to_have_count(10, timeout=TIMEOUT)
    expect(p.locator("#book-spread")).to_have_text("spread 1.00")
    server.push(t.BOOKS.name, book("BTC/USD", 101.0, 101.25))
    expect(p.locator("#book-spread")).to_have_text("spread 0.25", timeout=TIMEOUT)
    expect(p.locator("#book-bids tr").first.locator("td").first).to_have_text("101.00")
    page.shot("order-book")


def test_positions_show_live_pnl(page: Page, server: LiveServer) -> None:
    p = page.page
    btc = p.locator('#positions-body tr[data-asset="BTC"]')
    expect(btc.locator('[data-field="pnl"]')).to_have_text("+20.00", timeout=TIMEOUT)
    expect(btc.locator('[data-field="pnl"]')).to_have_attribute("data-sign", "up")
    expect(p.locator("#positions-total")).to_have_text("200.00")

    # a newer price revalues the position at once (2 * (110 - 90))
    server.push(t.PRICES.name, price("BTC/USD", 110.0))
    expect(btc.locator('[data-field="pnl"]')).to_have_text("+40.00", timeout=TIMEOUT)
    expect(p.locator("#positions-total")).to_have_text("220.00")

    # the positions channel: the valuation processor's answer, and a loss
    server.push(t.POSITIONS.name, position(2, 80.0, 90.0))
    server.push(t.PRICES.name, price("BTC/USD", 80.0, age_s=0.5))  # older than the position
    expect(btc.locator('[data-field="pnl"]')).to_have_text("-20.00", timeout=TIMEOUT)
    expect(btc.locator('[data-field="pnl"]')).to_have_attribute("data-sign", "down")
    server.push(t.POSITIONS.name, position(1.5, 80.0, 70.0, asset="ETH"))
    expect(p.locator('#positions-body tr[data-asset="ETH"] [data-field="pnl"]')).to_have_text(
        "+15.00", timeout=TIMEOUT
    )
    page.shot("positions-pnl")


def test_feed_status_follows_the_status_channel(page: Page, server: LiveServer) -> None:
    p = page.page
    kraken = p.locator('#feed-status li[data-exchange="kraken"]')
    expect(kraken).to_have_attribute("data-state", "ok", timeout=TIMEOUT)
    server.push(t.STATUS.name, status(ConnectionState.RECONNECTING, reconnects=1))
    expect(kraken).to_have_attribute("data-state", "warn", timeout=TIMEOUT)
    expect(kraken).to_contain_text("1 reconnects")
    server.push(t.STATUS.name, status(ConnectionState.DISCONNECTED, reconnects=1))
    expect(kraken).to_have_attribute("data-state", "down", timeout=TIMEOUT)
    page.shot("feed-down")
    server.push(t.STATUS.name, status(ConnectionState.SUBSCRIBED, reconnects=1))
    expect(kraken).to_have_attribute("data-state", "ok", timeout=TIMEOUT)


def _dot_colour(page: Any) -> str:
    return str(
        page.evaluate(
            "getComputedStyle(document.querySelector('#service-status .dot')).backgroundColor"
        )
    )


def test_status_turns_red_when_the_api_stops_and_green_when_it_returns(
    page: Page, server: LiveServer
) -> None:
    p = page.page
    service = p.locator("#service-status")
    btc = row(p, "BTC/USD")
    expect(service).to_have_attribute("data-state", "live")
    assert _dot_colour(p) == "rgb(38, 166, 154)"  # green
    expect(p.locator("#offline-banner")).to_be_hidden()

    server.stop()
    expect(service).to_have_attribute("data-state", "offline", timeout=TIMEOUT)
    assert _dot_colour(p) == "rgb(239, 83, 80)"  # red
    expect(p.locator("#offline-banner")).to_be_visible()
    # the last values stay, greyed, with their age
    expect(btc.locator('[data-field="last"]')).to_have_text("100.00")
    expect(btc).to_have_class(re.compile(r"\bcached\b"))
    expect(btc).to_have_attribute("data-offline", "true")
    opacity = p.evaluate(
        "getComputedStyle(document.querySelector("
        "'#tickers-body tr[data-symbol=\"BTC/USD\"] [data-field=last]')).opacity"
    )
    assert float(opacity) < 1
    expect(btc.locator('[data-field="age"]')).to_have_text(re.compile(r"\d"))
    expect(p.locator("#tickers-age")).to_contain_text("cached")
    page.shot("api-down-greyed")

    # the market moved while we were away; the API comes back on the same port
    server.push(t.PRICES.name, price("BTC/USD", 123.0))
    server.start()
    expect(service).to_have_attribute("data-state", "live", timeout=30_000)
    assert _dot_colour(p) == "rgb(38, 166, 154)"
    expect(p.locator("#offline-banner")).to_be_hidden()
    # refreshed from REST on reconnect, and live again afterwards
    expect(btc.locator('[data-field="last"]')).to_have_text("123.00", timeout=TIMEOUT)
    expect(btc).not_to_have_class(re.compile(r"\bcached\b"), timeout=TIMEOUT)
    assert p.evaluate("window.dashboard.state.counters.reconnects") >= 1
    server.push(t.PRICES.name, price("BTC/USD", 124.0))
    expect(btc.locator('[data-field="last"]')).to_have_text("124.00", timeout=TIMEOUT)
    page.shot("api-back-live")


def test_stale_values_are_marked_with_their_age(page: Page, server: LiveServer) -> None:
    p = page.page
    sol = row(p, "SOL/USD")
    expect(sol).to_have_attribute("data-stale", "true", timeout=TIMEOUT)
    expect(sol).to_have_class(re.compile(r"\bstale\b"))
    age = float(sol.get_attribute("data-age"))
    assert 29 <= age < 60, age
    expect(sol.locator('[data-field="age"]')).to_have_text(re.compile(r"^(29|3\d)s$"))
    colour = p.evaluate(
        "getComputedStyle(document.querySelector("
        "'#tickers-body tr[data-symbol=\"SOL/USD\"] [data-field=age]')).color"
    )
    assert colour == "rgb(240, 180, 41)"  # amber
    # a fresh price is not stale; once its TTL (1 s) passes without an update, it is
    server.push(t.PRICES.name, price("SOL/USD", 151.0))
    expect(sol).to_have_attribute("data-stale", "false", timeout=TIMEOUT)
    expect(sol).to_have_attribute("data-stale", "true", timeout=TIMEOUT)
    expect(sol.locator('[data-field="age"]')).to_have_text(re.compile(r"^\d+\.\ds$"))
    page.shot("stale-values")


def test_without_the_stream_the_page_polls_rest_and_says_so(
    browser: Any, server: LiveServer
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        # a proxy that refuses WebSockets: the page must fall back to REST
        context.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close())
        p = context.new_page()
        errors: list[str] = []
        p.on("pageerror", lambda exc: errors.append(str(exc)))
        p.goto(server.url + "/")
        service = p.locator("#service-status")
        expect(service).to_have_attribute("data-state", "polling", timeout=TIMEOUT)
        expect(service).to_contain_text("REST only")
        btc = row(p, "BTC/USD")
        expect(btc.locator('[data-field="last"]')).to_have_text("100.00", timeout=TIMEOUT)
        expect(p.locator("#chart")).to_have_attribute("data-candle-count", str(CANDLES))
        server.push(t.PRICES.name, price("BTC/USD", 107.5))
        expect(btc.locator('[data-field="last"]')).to_have_text("107.50", timeout=TIMEOUT)
        expect(btc).to_have_class(re.compile(r"\bcached\b"))  # not live: still greyed
        Page(p, errors, []).shot("rest-polling")
        assert not errors, errors
    finally:
        context.close()
