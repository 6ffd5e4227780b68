// The official SignalR client against our hub: connect, subscribe, print what arrives as JSON
// lines on stdout, stop after N price updates (or a timeout). Driven by tests/e2e.
//   node signalr_client.mjs <hub url> <symbol> <count> [<api key>]
import * as signalR from "@microsoft/signalr";

const [url, symbol, count, key] = process.argv.slice(2);
const wanted = Number(count);
const options = key ? { accessTokenFactory: () => key } : {};
const connection = new signalR.HubConnectionBuilder()
  .withUrl(url, options)
  .configureLogging(signalR.LogLevel.Warning)
  .build();

let prices = 0;
const done = new Promise((resolve) => {
  connection.on("PriceUpdate", (price) => {
    console.log(JSON.stringify({ event: "PriceUpdate", symbol: price.symbol, bid: price.bid, ask: price.ask }));
    prices += 1;
    if (prices >= wanted) resolve();
  });
});
connection.on("ConnectionStateChanged", (status) => {
  console.log(JSON.stringify({ event: "ConnectionStateChanged", exchange: status.exchange, state: status.state }));
});
connection.on("OrderBookUpdate", () => {});
connection.on("TradeUpdate", () => {});
connection.on("BalanceUpdate", () => {});

const timer = setTimeout(() => {
  console.log(JSON.stringify({ event: "timeout", prices }));
  process.exit(2);
}, 30000);
await connection.start();
const result = await connection.invoke("SubscribeToSymbols", [symbol]);
console.log(JSON.stringify({ event: "subscribed", result }));
await done;
await connection.stop();
clearTimeout(timer);
console.log(JSON.stringify({ event: "stopped" }));
