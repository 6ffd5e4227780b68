// crypton-marketdata dashboard: plain ES module, no framework, no bundler.
//
// Data flow: REST (/api/*) for the first load, after every reconnect and as a fallback poll while
// the stream is down; the /ws relay for live values (prices for every symbol, the selected
// symbol's book, candles and indicators, positions, feed status, alerts). When the stream drops,
// the last values stay on screen greyed with their age, the socket reconnects with exponential
// backoff (with jitter), and everything is reloaded from REST once it is back.
//
// Tests read `window.dashboard` (state and counters) and the data-* attributes of the markup.

import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  LineStyle,
  createChart,
} from "./vendor/lightweight-charts.standalone.production.mjs";

// ---- configuration ------------------------------------------------------------------------------

/** Seconds before a value counts as stale: the defaults of `marketData.cache` (the REST answers'
 * own `stale` flag is honoured too, so a stricter server setting still shows). */
const TTL = { prices: 1, book: 5, positions: 30, candles: 120, indicators: 120, status: 10 };
const EXCHANGE = "kraken";
const EMA_PERIODS = [9, 21];
const BB = { period: 20, stddev: 2 };
const RSI_PERIOD = 14;
const MACD = { fast: 12, slow: 26, signal: 9 };
const CANDLE_LIMIT = 500;
const BOOK_DEPTH = 12;
const BACKOFF = { initialMs: 500, maxMs: 15000 };
const PING_EVERY_MS = 10000;
const SILENCE_LIMIT_MS = 25000;
const POLL_EVERY_MS = 5000;
const REST_TIMEOUT_MS = 5000;
const FLASH_MS = 900;

const params = new URLSearchParams(location.search);
const accessToken = params.get("access_token");

// ---- state --------------------------------------------------------------------------------------

const state = {
  connection: "connecting", // live | polling | offline | connecting
  socket: null,
  attempt: 0,
  reconnectTimer: null,
  pollTimer: null,
  lastMessageAt: 0,
  disconnectedAt: null,
  serverOffsetUs: 0, // server clock minus ours, learned from REST answers
  prices: new Map(), // exchange:symbol -> {data, restStale, direction, flashes}
  book: null, // {data, restStale}
  positions: new Map(), // exchange:asset -> {data, restStale}
  feeds: new Map(), // exchange -> {state, circuit, reconnects, detail, received_ts, last_message_ts, restStale}
  alerts: new Map(), // source:kind -> Alert
  selected: { symbol: params.get("symbol") || decodeURIComponent(location.hash.slice(1)) || null, timeframe: params.get("timeframe") || "1m" },
  candles: [], // OHLCV of the selected series, oldest first
  candlesRestStale: false,
  indicators: new Map(), // open_ts -> IndicatorSet (the server's values win over ours)
  latestIndicators: null,
  counters: { messages: 0, updates: 0, snapshots: 0, flashes: 0, restLoads: 0, reconnects: 0, restFailures: 0 },
};

const $ = (id) => document.getElementById(id);

// ---- time and formatting ------------------------------------------------------------------------

const nowUs = () => Date.now() * 1000 + state.serverOffsetUs;
const ageSeconds = (receivedTs) => Math.max(0, (nowUs() - receivedTs) / 1e6);

function learnClock(receivedTs, age) {
  if (typeof receivedTs === "number" && typeof age === "number" && receivedTs > 0) {
    state.serverOffsetUs = receivedTs + age * 1e6 - Date.now() * 1000;
  }
}

function fmtAge(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d`;
}

function fmtNum(v, precision = 8) {
  if (v == null || !isFinite(v)) return "—";
  const abs = Math.abs(v);
  const digits = Math.min(precision, abs >= 1000 ? 2 : abs >= 1 ? 4 : 6);
  return v.toLocaleString("en-US", { minimumFractionDigits: Math.min(digits, 2), maximumFractionDigits: digits });
}

function fmtSigned(v) {
  if (v == null || !isFinite(v)) return "—";
  return (v > 0 ? "+" : "") + fmtNum(v, 2);
}

const sign = (v) => (v == null || !isFinite(v) || v === 0 ? "flat" : v > 0 ? "up" : "down");
const urlSymbol = (symbol) => encodeURIComponent(symbol.replace("/", "-"));
const seriesKey = () => `${EXCHANGE}:${state.selected.symbol}:${state.selected.timeframe}`;

// ---- REST ---------------------------------------------------------------------------------------

async function getJson(path) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REST_TIMEOUT_MS);
  try {
    const answer = await fetch(path, { signal: controller.signal, headers: { Accept: "application/json" } });
    if (answer.status === 404) return null;
    if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
    return await answer.json();
  } finally {
    clearTimeout(timer);
  }
}

async function loadPrices() {
  const body = await getJson("/api/prices");
  if (!body) return;
  for (const item of body.data) {
    learnClock(item.data.received_ts, item.age_seconds);
    putPrice(item.data, item.stale);
  }
}

async function loadPositions() {
  const body = await getJson("/api/positions");
  if (!body) return;
  state.positions.clear();
  for (const p of body.data) state.positions.set(`${p.exchange}:${p.asset}`, { data: p, restStale: body.stale });
}

async function loadStatus() {
  const body = await getJson("/api/status");
  if (!body) return;
  for (const f of body.exchanges) {
    const raw = body.raw.find((r) => r.exchange === f.exchange);
    state.feeds.set(f.exchange, {
      exchange: f.exchange,
      state: f.state,
      circuit: f.circuit,
      reconnects: f.reconnects,
      detail: f.detail,
      received_ts: raw ? raw.received_ts : nowUs() - f.status_age_seconds * 1e6,
      last_message_ts: raw ? raw.last_message_ts : null,
      restStale: f.stale,
    });
  }
  state.alerts.clear();
  for (const a of body.alerts) state.alerts.set(`${a.source}:${a.kind}`, a);
}

async function loadBook() {
  const symbol = state.selected.symbol;
  if (!symbol) return;
  const body = await getJson(`/api/orderbook/${urlSymbol(symbol)}?depth=${BOOK_DEPTH}`);
  if (symbol !== state.selected.symbol) return;
  state.book = body ? { data: body.data, restStale: body.stale } : null;
}

async function loadChart() {
  const { symbol, timeframe } = state.selected;
  if (!symbol) return;
  const q = `symbol=${urlSymbol(symbol)}&timeframe=${timeframe}`;
  const [candles, indicators] = await Promise.all([
    getJson(`/api/ohlcv?${q}&limit=${CANDLE_LIMIT}`),
    getJson(`/api/indicators/${urlSymbol(symbol)}?timeframe=${timeframe}`),
  ]);
  if (symbol !== state.selected.symbol || timeframe !== state.selected.timeframe) return;
  state.candles = candles ? candles.data.slice() : [];
  state.candlesRestStale = candles ? candles.stale : false;
  if (indicators) putIndicators(indicators.data);
  chartDirty = true;
}

/** Everything from REST; true when the API answered. */
async function refreshAll() {
  try {
    await loadPrices();
    ensureSelection();
    await Promise.all([loadPositions(), loadStatus(), loadBook(), loadChart()]);
    state.counters.restLoads += 1;
    document.body.dataset.loaded = "true";
    scheduleRender();
    return true;
  } catch (err) {
    state.counters.restFailures += 1;
    console.warn("REST refresh failed:", err);
    return false;
  }
}

// ---- WebSocket ----------------------------------------------------------------------------------

function wsUrl() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (accessToken) url.searchParams.set("access_token", accessToken);
  return url.toString();
}

function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
}

function subscribeSelected(op = "subscribe") {
  const { symbol, timeframe } = state.selected;
  if (!symbol) return;
  send({ op, channel: "book", symbols: [symbol], exchange: EXCHANGE });
  send({ op, channel: "candles", symbols: [symbol], timeframe, exchange: EXCHANGE });
  send({ op, channel: "indicators", symbols: [symbol], timeframe, exchange: EXCHANGE });
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  let socket;
  try {
    socket = new WebSocket(wsUrl());
  } catch (err) {
    console.warn("WebSocket failed:", err);
    scheduleReconnect();
    return;
  }
  state.socket = socket;
  socket.onopen = async () => {
    state.attempt = 0;
    state.lastMessageAt = Date.now();
    for (const channel of ["prices", "positions", "status", "alerts"]) send({ op: "subscribe", channel, symbols: ["*"] });
    // REST first, then the selected symbol's channels (so the chart's snapshot lands on REST data)
    await refreshAll();
    subscribeSelected();
    setConnection("live");
  };
  socket.onmessage = (event) => {
    state.lastMessageAt = Date.now();
    state.counters.messages += 1;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onMessage(message);
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401) $("offline-detail").textContent = "The stream needs an API key: open the page with ?access_token=<key>.";
    lostStream(`closed (${event.code}${event.reason ? ": " + event.reason : ""})`);
    scheduleReconnect();
  };
  socket.onerror = () => {}; // a close event follows
}

function scheduleReconnect() {
  if (state.reconnectTimer) return;
  const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** state.attempt);
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  state.attempt += 1;
  state.counters.reconnects += 1;
  state.nextRetryAt = Date.now() + delay;
  state.reconnectTimer = setTimeout(() => {
    state.reconnectTimer = null;
    connect();
  }, delay);
}

function lostStream(reason) {
  if (state.disconnectedAt == null) state.disconnectedAt = Date.now();
  state.lastCloseReason = reason;
  if (state.connection === "live" || state.connection === "connecting") setConnection("offline");
  pollWhileDown();
}

/** While the stream is down, poll REST: values stay fresh if only the socket is blocked. */
function pollWhileDown() {
  if (state.polling) return;
  state.polling = true;
  const poll = async () => {
    if (state.connection === "live") {
      state.polling = false;
      return;
    }
    const ok = await refreshAll();
    if (state.connection === "live") {
      state.polling = false;
      return;
    }
    setConnection(ok ? "polling" : "offline");
    state.pollTimer = setTimeout(poll, POLL_EVERY_MS);
  };
  poll();
}

function keepAlive() {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    if (Date.now() - state.lastMessageAt > SILENCE_LIMIT_MS) {
      state.socket.close(4000, "silent");
      return;
    }
    send({ op: "ping" });
  }
}

function onMessage(m) {
  if (m.type === "snapshot" || m.type === "update") {
    state.counters[m.type === "update" ? "updates" : "snapshots"] += 1;
    const handler = CHANNEL_HANDLERS[m.channel];
    if (handler) handler(m.key, m.data);
    scheduleRender();
  } else if (m.type === "error") {
    console.warn("stream error:", m.message);
  }
}

const CHANNEL_HANDLERS = {
  prices: (_key, data) => putPrice(data, false),
  book: (key, data) => {
    if (key === `${EXCHANGE}:${state.selected.symbol}`) state.book = { data, restStale: false };
  },
  candles: (key, data) => {
    if (key === seriesKey()) putCandle(data);
  },
  indicators: (key, data) => {
    if (key === seriesKey()) putIndicators(data);
  },
  positions: (key, data) => state.positions.set(key, { data, restStale: false }),
  status: (key, data) => state.feeds.set(key, { ...data, restStale: false }),
  alerts: (key, data) => (data.active ? state.alerts.set(key, data) : state.alerts.delete(key)),
};

// ---- model updates ------------------------------------------------------------------------------

function putPrice(data, restStale) {
  const key = `${data.exchange}:${data.symbol}`;
  const old = state.prices.get(key);
  const entry = old || { data, restStale, direction: "flat", flashes: 0, flashAt: 0 };
  if (old) {
    const before = old.data.last || (old.data.bid + old.data.ask) / 2;
    const after = data.last || (data.bid + data.ask) / 2;
    if (after !== before) {
      entry.direction = after > before ? "up" : "down";
      entry.flashes += 1;
      entry.flashAt = performance.now();
      entry.flashPending = true;
      state.counters.flashes += 1;
    }
  }
  entry.data = data;
  entry.restStale = restStale;
  state.prices.set(key, entry);
}

function putCandle(c) {
  const list = state.candles;
  const last = list[list.length - 1];
  if (!last || c.open_ts > last.open_ts) list.push(c);
  else if (c.open_ts === last.open_ts) list[list.length - 1] = c;
  else {
    const i = list.findIndex((x) => x.open_ts >= c.open_ts);
    if (list[i].open_ts === c.open_ts) list[i] = c;
    else list.splice(i, 0, c);
  }
  if (list.length > CANDLE_LIMIT * 2) list.splice(0, list.length - CANDLE_LIMIT);
  state.candlesRestStale = false;
  chartDirty = true;
}

function putIndicators(data) {
  state.indicators.set(data.open_ts, data);
  if (!state.latestIndicators || data.open_ts >= state.latestIndicators.open_ts) state.latestIndicators = data;
  chartDirty = true;
}

function ensureSelection() {
  const symbols = [...state.prices.values()].filter((p) => p.data.exchange === EXCHANGE).map((p) => p.data.symbol).sort();
  if (symbols.length && !symbols.includes(state.selected.symbol)) state.selected.symbol = symbols[0];
}

async function select(symbol, timeframe = state.selected.timeframe) {
  if (symbol === state.selected.symbol && timeframe === state.selected.timeframe) return;
  subscribeSelected("unsubscribe");
  state.selected = { symbol, timeframe };
  history.replaceState(null, "", `#${encodeURIComponent(symbol)}`);
  state.book = null;
  state.candles = [];
  state.indicators.clear();
  state.latestIndicators = null;
  chartDirty = true;
  fitPending = true;
  scheduleRender();
  try {
    await Promise.all([loadBook(), loadChart()]);
  } catch (err) {
    console.warn("loading the selection failed:", err);
  }
  subscribeSelected();
  scheduleRender();
}

// ---- rendering ----------------------------------------------------------------------------------

let renderQueued = false;
let chartDirty = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  renderTickers();
  renderBook();
  renderPositions();
  renderFeeds();
  renderAlerts();
  if (chartDirty) renderChart();
  renderAges();
}

function setConnection(value) {
  const previous = state.connection;
  state.connection = value;
  if (value === "live") {
    state.disconnectedAt = null;
    clearTimeout(state.pollTimer);
    state.polling = false;
  }
  document.body.dataset.connection = value;
  const pill = $("service-status");
  pill.dataset.state = value;
  const text = {
    live: "live",
    polling: "stream down · REST only",
    offline: "offline",
    connecting: "connecting…",
  }[value];
  $("service-state").textContent = text;
  pill.title = value === "live" ? "WebSocket stream connected" : state.lastCloseReason || "";
  $("offline-banner").hidden = value === "live" || value === "connecting";
  if (previous !== value) scheduleRender();
}

function cell(row, name, text, extra = {}) {
  let td = row.querySelector(`[data-field="${name}"]`);
  if (!td) return;
  if (td.textContent !== text) td.textContent = text;
  for (const [k, v] of Object.entries(extra)) td.dataset[k] = v;
}

function renderTickers() {
  const body = $("tickers-body");
  const entries = [...state.prices.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  $("tickers-empty").hidden = entries.length > 0;
  const multiExchange = new Set(entries.map(([, e]) => e.data.exchange)).size > 1;
  for (const [key, entry] of entries) {
    let row = body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    const p = entry.data;
    if (!row) {
      row = document.createElement("tr");
      row.dataset.key = key;
      row.dataset.symbol = p.symbol;
      row.dataset.exchange = p.exchange;
      row.dataset.test = "ticker";
      row.tabIndex = 0;
      row.innerHTML = `<th scope="row" data-field="symbol"></th>
        <td class="num value" data-field="bid"></td><td class="num value" data-field="ask"></td>
        <td class="num value last" data-field="last"></td><td class="num value" data-field="change"></td>
        <td class="num age" data-field="age"></td>`;
      row.addEventListener("click", () => select(p.symbol));
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          select(p.symbol);
        }
      });
      insertSorted(body, row, key);
    }
    cell(row, "symbol", multiExchange ? `${p.symbol} · ${p.exchange}` : p.symbol);
    cell(row, "bid", fmtNum(p.bid, p.price_precision));
    cell(row, "ask", fmtNum(p.ask, p.price_precision));
    cell(row, "last", fmtNum(p.last, p.price_precision));
    const change = p.change_24h;
    cell(row, "change", change == null ? "—" : `${change > 0 ? "+" : ""}${change.toFixed(2)}%`, { sign: sign(change) });
    row.dataset.last = String(p.last);
    row.dataset.direction = entry.direction;
    row.dataset.flashCount = String(entry.flashes);
    row.setAttribute("aria-selected", String(p.symbol === state.selected.symbol && p.exchange === EXCHANGE));
    if (entry.flashPending) {
      entry.flashPending = false;
      row.classList.remove("flash-up", "flash-down");
      void row.offsetWidth; // restart the animation
      row.classList.add(`flash-${entry.direction}`);
      row.dataset.flash = entry.direction;
      clearTimeout(row._flashTimer);
      row._flashTimer = setTimeout(() => {
        row.classList.remove("flash-up", "flash-down");
        delete row.dataset.flash;
      }, FLASH_MS);
    }
  }
  // the chart's symbol list follows the tickers
  const select_ = $("chart-symbol");
  const symbols = entries.filter(([, e]) => e.data.exchange === EXCHANGE).map(([, e]) => e.data.symbol);
  if (select_.options.length !== symbols.length || [...select_.options].some((o, i) => o.value !== symbols[i])) {
    select_.replaceChildren(...symbols.map((s) => new Option(s, s)));
  }
  if (state.selected.symbol && select_.value !== state.selected.symbol) select_.value = state.selected.symbol;
}

function insertSorted(body, row, key) {
  const after = [...body.children].find((r) => r.dataset.key.localeCompare(key) > 0);
  body.insertBefore(row, after || null);
}

function renderBook() {
  $("book-symbol").textContent = state.selected.symbol || "";
  const asks = $("book-asks");
  const bids = $("book-bids");
  const book = state.book && state.book.data;
  const panel = $("book-panel");
  if (!book) {
    asks.replaceChildren();
    bids.replaceChildren();
    $("book-spread").textContent = state.selected.symbol ? "no book yet" : "—";
    panel.dataset.levels = "0";
    return;
  }
  const levels = (side, rows) => {
    let total = 0;
    const withTotals = rows.slice(0, BOOK_DEPTH).map((l) => ({ ...l, total: (total += l.qty) }));
    return withTotals;
  };
  const a = levels("ask", book.asks);
  const b = levels("bid", book.bids);
  const max = Math.max(1e-12, ...a.map((l) => l.total), ...b.map((l) => l.total));
  const row = (l, side) => {
    const tr = document.createElement("tr");
    tr.className = side;
    tr.dataset.test = `book-${side}`;
    tr.style.setProperty("--depth", `${(100 * l.total) / max}%`);
    tr.innerHTML = `<td class="num value price"></td><td class="num value"></td><td class="num value"></td>`;
    tr.children[0].textContent = fmtNum(l.price, book.price_precision);
    tr.children[1].textContent = fmtNum(l.qty, book.size_precision);
    tr.children[2].textContent = fmtNum(l.total, book.size_precision);
    return tr;
  };
  asks.replaceChildren(...a.slice().reverse().map((l) => row(l, "ask")));
  bids.replaceChildren(...b.map((l) => row(l, "bid")));
  const spread = book.asks.length && book.bids.length ? book.asks[0].price - book.bids[0].price : null;
  $("book-spread").textContent = spread == null ? "—" : `spread ${fmtNum(spread, book.price_precision)}`;
  panel.dataset.levels = String(a.length + b.length);
}

function positionView(p) {
  const ticker = state.prices.get(`${p.exchange}:${p.asset}/${p.quote}`);
  let mark = p.price;
  let value = p.value;
  let pnl = p.unrealized_pnl;
  let receivedTs = p.received_ts;
  // revalue at the live price when the ticker is newer than the position record
  if (ticker && ticker.data.received_ts > p.received_ts) {
    const t = ticker.data;
    mark = t.last || (t.bid + t.ask) / 2;
    value = p.qty * mark;
    if (p.avg_entry_price != null) pnl = p.qty * (mark - p.avg_entry_price);
    receivedTs = t.received_ts;
  }
  return { mark, value, pnl, receivedTs };
}

function renderPositions() {
  const body = $("positions-body");
  const entries = [...state.positions.entries()].filter(([, e]) => e.data.qty !== 0).sort((a, b) => a[0].localeCompare(b[0]));
  $("positions-empty").hidden = entries.length > 0;
  const keep = new Set(entries.map(([k]) => k));
  for (const row of [...body.children]) if (!keep.has(row.dataset.key)) row.remove();
  let total = 0;
  let pnlTotal = 0;
  let anyValue = false;
  let anyPnl = false;
  for (const [key, entry] of entries) {
    const p = entry.data;
    let row = body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.key = key;
      row.dataset.asset = p.asset;
      row.dataset.test = "position";
      row.innerHTML = `<th scope="row" data-field="asset"></th><td class="num value" data-field="qty"></td>
        <td class="num value" data-field="mark"></td><td class="num value" data-field="value"></td>
        <td class="num value" data-field="entry"></td><td class="num value pnl" data-field="pnl"></td>
        <td class="num value pnl" data-field="pnl24"></td>`;
      insertSorted(body, row, key);
    }
    const v = positionView(p);
    cell(row, "asset", `${p.asset}${p.exchange !== EXCHANGE ? " · " + p.exchange : ""}`);
    cell(row, "qty", fmtNum(p.qty));
    cell(row, "mark", fmtNum(v.mark));
    cell(row, "value", v.value == null ? "—" : `${fmtNum(v.value, 2)} ${p.quote}`);
    cell(row, "entry", fmtNum(p.avg_entry_price));
    cell(row, "pnl", fmtSigned(v.pnl), { sign: sign(v.pnl) });
    cell(row, "pnl24", fmtSigned(p.pnl_24h), { sign: sign(p.pnl_24h) });
    row.dataset.pnl = v.pnl == null ? "" : String(v.pnl);
    row.dataset.value = v.value == null ? "" : String(v.value);
    row.dataset.receivedTs = String(v.receivedTs);
    if (v.value != null) (total += v.value), (anyValue = true);
    if (v.pnl != null) (pnlTotal += v.pnl), (anyPnl = true);
  }
  $("positions-total").textContent = anyValue ? fmtNum(total, 2) : "—";
  $("positions-pnl-total").textContent = anyPnl ? fmtSigned(pnlTotal) : "—";
  $("positions-pnl-total").dataset.sign = anyPnl ? sign(pnlTotal) : "flat";
}

function feedLevel(f) {
  if (f.circuit === "open" || ["disconnected", "circuit_open", "stopped", "unknown"].includes(f.state)) return "down";
  if (["connecting", "reconnecting", "resyncing"].includes(f.state) || f.circuit === "half_open") return "warn";
  return "ok";
}

function renderFeeds() {
  const list = $("feed-status");
  const feeds = [...state.feeds.values()].sort((a, b) => a.exchange.localeCompare(b.exchange));
  for (const f of feeds) {
    let li = list.querySelector(`li[data-exchange="${CSS.escape(f.exchange)}"]`);
    if (!li) {
      li = document.createElement("li");
      li.className = "status-pill";
      li.dataset.exchange = f.exchange;
      li.dataset.test = "feed";
      li.setAttribute("role", "status");
      li.innerHTML = `<span class="dot" aria-hidden="true"></span><span class="label"></span><span class="state"></span>`;
      list.append(li);
    }
    li.dataset.state = feedLevel(f);
    li.dataset.feedState = f.state;
    li.querySelector(".label").textContent = f.exchange;
    const lastMsg = f.last_message_ts ? ` · last msg ${fmtAge(ageSeconds(f.last_message_ts))} ago` : "";
    li.querySelector(".state").textContent = `${f.state.replace("_", " ")}${f.reconnects ? ` · ${f.reconnects} reconnects` : ""}`;
    li.title = `${f.exchange}: ${f.state}, circuit ${f.circuit}${lastMsg}${f.detail ? ` — ${f.detail}` : ""}`;
  }
}

function renderAlerts() {
  const list = $("alerts");
  const alerts = [...state.alerts.values()].sort((a, b) => b.ts - a.ts);
  list.replaceChildren(
    ...alerts.map((a) => {
      const li = document.createElement("li");
      li.dataset.severity = a.severity;
      li.dataset.test = "alert";
      li.textContent = `${a.severity.toUpperCase()} ${a.symbol ? a.symbol + " " : ""}${a.message}`;
      return li;
    }),
  );
  if (!alerts.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No active alerts.";
    list.append(li);
  }
}

/** Ages and stale marks: every second, and after every render. */
function renderAges() {
  const offline = state.connection !== "live";
  let newest = null;
  for (const row of $("tickers-body").children) {
    const entry = state.prices.get(row.dataset.key);
    if (!entry) continue;
    const age = ageSeconds(entry.data.received_ts);
    newest = newest == null ? age : Math.min(newest, age);
    markFreshness(row, age, entry.restStale || age > TTL.prices, offline);
    cell(row, "age", fmtAge(age));
    row.title = row.dataset.stale === "true" ? `stale: ${fmtAge(age)} old, over the ${TTL.prices}s TTL` : "";
  }
  panelAge("tickers", newest, offline, newest != null && newest > TTL.prices);

  const book = state.book;
  if (book) {
    const age = ageSeconds(book.data.received_ts);
    panelAge("book", age, offline, book.restStale || age > TTL.book);
  } else panelAge("book", null, offline, false);

  let positionsNewest = null;
  for (const row of $("positions-body").children) {
    const entry = state.positions.get(row.dataset.key);
    if (!entry) continue;
    const age = ageSeconds(Number(row.dataset.receivedTs) || entry.data.received_ts);
    positionsNewest = positionsNewest == null ? age : Math.min(positionsNewest, age);
    markFreshness(row, age, entry.restStale || age > TTL.positions, offline);
  }
  panelAge("positions", positionsNewest, offline, positionsNewest != null && positionsNewest > TTL.positions);

  const lastCandle = state.candles[state.candles.length - 1];
  if (lastCandle) {
    const age = ageSeconds(lastCandle.received_ts);
    panelAge("chart", age, offline, state.candlesRestStale || age > TTL.candles);
  } else panelAge("chart", null, offline, false);

  for (const li of $("feed-status").children) {
    const f = state.feeds.get(li.dataset.exchange);
    if (!f) continue;
    const age = ageSeconds(f.received_ts);
    markFreshness(li, age, f.restStale || age > TTL.status, offline);
  }
  const down = state.disconnectedAt ? (Date.now() - state.disconnectedAt) / 1000 : null;
  $("offline-detail").textContent = down == null ? "" : `Down for ${fmtAge(down)}; ${state.reconnectTimer ? "reconnecting…" : "retrying"}`;
}

function markFreshness(el, age, stale, offline) {
  el.dataset.stale = String(stale);
  el.dataset.age = age.toFixed(1);
  el.dataset.offline = String(offline);
  el.classList.toggle("stale", stale);
  el.classList.toggle("cached", offline);
}

function panelAge(name, age, offline, stale) {
  const el = $(`${name}-age`);
  const panel = $(`${name}-panel`);
  panel.dataset.stale = String(stale);
  panel.dataset.offline = String(offline);
  el.textContent = age == null ? "" : `${stale ? "stale · " : ""}${offline ? "cached · " : ""}${fmtAge(age)} ago`;
}

// ---- chart and indicators -----------------------------------------------------------------------

let chart = null;
let fitPending = true; // fit the time scale to the data once per symbol/timeframe
const series = {};

function initChart() {
  const el = $("chart");
  chart = createChart(el, {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: "#0f141b" },
      textColor: "#c9d1d9",
      fontSize: 11,
      panes: { separatorColor: "#2a3340", enableResize: true },
      attributionLogo: true,
    },
    grid: { vertLines: { color: "#1b232d" }, horzLines: { color: "#1b232d" } },
    crosshair: { mode: CrosshairMode.Normal },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3340" },
    rightPriceScale: { borderColor: "#2a3340" },
  });
  series.candles = chart.addSeries(CandlestickSeries, {
    upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
  }, 0);
  const emaColors = ["#f7c948", "#4fc3f7", "#ba68c8"];
  series.ema = EMA_PERIODS.map((period, i) =>
    chart.addSeries(LineSeries, { color: emaColors[i % emaColors.length], lineWidth: 1, title: `EMA ${period}`, priceLineVisible: false, lastValueVisible: false }, 0));
  const band = { color: "#7e57c2", lineWidth: 1, priceLineVisible: false, lastValueVisible: false };
  series.bbUpper = chart.addSeries(LineSeries, { ...band, title: "BB up" }, 0);
  series.bbMiddle = chart.addSeries(LineSeries, { ...band, lineStyle: LineStyle.Dotted, title: "" }, 0);
  series.bbLower = chart.addSeries(LineSeries, { ...band, title: "BB low" }, 0);
  series.rsi = chart.addSeries(LineSeries, { color: "#ffb74d", lineWidth: 1, title: "RSI 14", priceLineVisible: false }, 1);
  series.rsi.createPriceLine({ price: 70, color: "#ef5350", lineStyle: LineStyle.Dashed, lineWidth: 1, axisLabelVisible: false });
  series.rsi.createPriceLine({ price: 30, color: "#26a69a", lineStyle: LineStyle.Dashed, lineWidth: 1, axisLabelVisible: false });
  series.macdHist = chart.addSeries(HistogramSeries, { priceLineVisible: false, lastValueVisible: false, title: "" }, 2);
  series.macd = chart.addSeries(LineSeries, { color: "#4fc3f7", lineWidth: 1, title: "MACD", priceLineVisible: false }, 2);
  series.macdSignal = chart.addSeries(LineSeries, { color: "#ff8a65", lineWidth: 1, title: "signal", priceLineVisible: false }, 2);
  const panes = chart.panes();
  panes[1]?.setHeight(80);
  panes[2]?.setHeight(100);
}

const toTime = (us) => Math.floor(us / 1e6);

function ema(values, period) {
  const out = new Array(values.length).fill(null);
  let sum = 0;
  let value = null;
  const k = 2 / (period + 1);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null) continue;
    n += 1;
    if (value == null) {
      sum += v;
      if (n === period) value = sum / period;
    } else value = v * k + value * (1 - k);
    out[i] = value;
  }
  return out;
}

function bollinger(values, period, k) {
  const upper = [], middle = [], lower = [];
  for (let i = 0; i < values.length; i++) {
    if (i + 1 < period) {
      upper.push(null), middle.push(null), lower.push(null);
      continue;
    }
    const window = values.slice(i + 1 - period, i + 1);
    const mean = window.reduce((a, b) => a + b, 0) / period;
    const sd = Math.sqrt(window.reduce((a, b) => a + (b - mean) ** 2, 0) / (period - 1));
    upper.push(mean + k * sd), middle.push(mean), lower.push(mean - k * sd);
  }
  return { upper, middle, lower };
}

function rsi(values, period) {
  const out = new Array(values.length).fill(null);
  let gain = 0, loss = 0, diffs = 0;
  for (let i = 1; i < values.length; i++) {
    const d = values[i] - values[i - 1];
    const g = Math.max(d, 0), l = Math.max(-d, 0);
    if (diffs === 0) (gain = g), (loss = l);
    else (gain = (1 - 1 / period) * gain + g / period), (loss = (1 - 1 / period) * loss + l / period);
    diffs += 1;
    if (diffs >= period && gain + loss > 0) out[i] = (100 * gain) / (gain + loss);
  }
  return out;
}

function macd(values) {
  const fast = ema(values, MACD.fast);
  const slow = ema(values, MACD.slow);
  const line = values.map((_, i) => (fast[i] != null && slow[i] != null ? fast[i] - slow[i] : null));
  const signal = ema(line, MACD.signal);
  const hist = line.map((v, i) => (v != null && signal[i] != null ? v - signal[i] : null));
  return { line, signal, hist };
}

/** Our values, with the server's wherever it published one for that candle. */
function indicatorSeries(candles) {
  const closes = candles.map((c) => c.close);
  const served = candles.map((c) => state.indicators.get(c.open_ts));
  const pick = (ours, name) => ours.map((v, i) => (served[i] && served[i][name] != null ? served[i][name] : v));
  const bb = bollinger(closes, BB.period, BB.stddev);
  const m = macd(closes);
  return {
    ema: EMA_PERIODS.map((p) => ema(closes, p).map((v, i) => (served[i] && served[i].ema && served[i].ema[p] != null ? served[i].ema[p] : v))),
    bbUpper: pick(bb.upper, "bb_upper"),
    bbMiddle: pick(bb.middle, "bb_middle"),
    bbLower: pick(bb.lower, "bb_lower"),
    rsi: pick(rsi(closes, RSI_PERIOD), "rsi"),
    macd: pick(m.line, "macd"),
    macdSignal: pick(m.signal, "macd_signal"),
    macdHist: pick(m.hist, "macd_hist"),
  };
}

function line(times, values) {
  const out = [];
  for (let i = 0; i < times.length; i++) if (values[i] != null && isFinite(values[i])) out.push({ time: times[i], value: values[i] });
  return out;
}

function renderChart() {
  chartDirty = false;
  if (!chart) return;
  const candles = dedupeByTime(state.candles);
  const times = candles.map((c) => toTime(c.open_ts));
  series.candles.setData(candles.map((c, i) => ({ time: times[i], open: c.open, high: c.high, low: c.low, close: c.close })));
  const ind = indicatorSeries(candles);
  series.ema.forEach((s, i) => s.setData(line(times, ind.ema[i])));
  series.bbUpper.setData(line(times, ind.bbUpper));
  series.bbMiddle.setData(line(times, ind.bbMiddle));
  series.bbLower.setData(line(times, ind.bbLower));
  series.rsi.setData(line(times, ind.rsi));
  series.macd.setData(line(times, ind.macd));
  series.macdSignal.setData(line(times, ind.macdSignal));
  series.macdHist.setData(
    line(times, ind.macdHist).map((p) => ({ ...p, color: p.value >= 0 ? "rgba(38,166,154,0.6)" : "rgba(239,83,80,0.6)" })),
  );
  const el = $("chart");
  if (fitPending && candles.length) {
    chart.timeScale().fitContent();
    fitPending = false;
  }
  el.dataset.candleCount = String(series.candles.data().length);
  el.dataset.symbol = state.selected.symbol || "";
  el.dataset.timeframe = state.selected.timeframe;
  el.dataset.emaPoints = String(series.ema[0].data().length);
  el.dataset.rsiPoints = String(series.rsi.data().length);
  el.dataset.macdPoints = String(series.macd.data().length);
  el.dataset.bbPoints = String(series.bbUpper.data().length);
  const empty = $("chart-empty");
  empty.hidden = candles.length > 0;
  empty.textContent = state.selected.symbol ? `No ${state.selected.timeframe} candles for ${state.selected.symbol} yet.` : "";
  renderLegend(ind);
}

function dedupeByTime(candles) {
  const out = [];
  for (const c of candles) {
    const t = toTime(c.open_ts);
    if (out.length && toTime(out[out.length - 1].open_ts) === t) out[out.length - 1] = c;
    else out.push(c);
  }
  return out;
}

function renderLegend(ind) {
  const s = state.latestIndicators;
  const lastOf = (arr) => (arr.length ? arr[arr.length - 1] : null);
  const emas = s && s.ema && Object.keys(s.ema).length
    ? Object.entries(s.ema).sort((a, b) => Number(a[0]) - Number(b[0])).map(([p, v]) => `EMA${p} ${fmtNum(v)}`)
    : EMA_PERIODS.map((p, i) => `EMA${p} ${fmtNum(lastOf(ind.ema[i]))}`);
  const rsiValue = s && s.rsi != null ? s.rsi : lastOf(ind.rsi);
  const macdValue = s && s.macd != null ? s.macd : lastOf(ind.macd);
  const signalValue = s && s.macd_signal != null ? s.macd_signal : lastOf(ind.macdSignal);
  const bbU = s && s.bb_upper != null ? s.bb_upper : lastOf(ind.bbUpper);
  const bbL = s && s.bb_lower != null ? s.bb_lower : lastOf(ind.bbLower);
  const legend = $("indicator-legend");
  legend.dataset.source = s ? "server" : "computed";
  legend.dataset.rsi = rsiValue == null ? "" : String(rsiValue);
  legend.textContent = [
    ...emas,
    `BB ${fmtNum(bbL)} – ${fmtNum(bbU)}`,
    `RSI ${rsiValue == null ? "—" : rsiValue.toFixed(1)}`,
    `MACD ${fmtNum(macdValue, 4)} / ${fmtNum(signalValue, 4)}`,
  ].join("  ·  ");
}

// ---- start --------------------------------------------------------------------------------------

function start() {
  $("chart-timeframe").value = state.selected.timeframe;
  $("chart-symbol").addEventListener("change", (e) => select(e.target.value));
  $("chart-timeframe").addEventListener("change", (e) => select(state.selected.symbol, e.target.value));
  try {
    initChart();
  } catch (err) {
    console.error("chart failed to start:", err);
  }
  setConnection("connecting");
  connect();
  setInterval(renderAges, 1000);
  setInterval(keepAlive, PING_EVERY_MS);
  // a tab that slept through a disconnect: retry at once when it is shown again
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !state.socket && state.reconnectTimer) {
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = null;
      connect();
    }
  });
  window.addEventListener("online", () => {
    if (!state.socket) {
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = null;
      connect();
    }
  });
}

window.dashboard = {
  state,
  select,
  refreshAll,
  candleCount: () => (series.candles ? series.candles.data().length : 0),
  seriesLengths: () => Object.fromEntries(Object.entries(series).map(([k, s]) => [k, Array.isArray(s) ? s.map((x) => x.data().length) : s.data().length])),
};

start();
