// Build the dashboard into query_api/static/: copy the page's sources and vendor the pinned
// lightweight-charts standalone production build (an ES module), so the API serves everything
// itself and the page needs no internet. No bundler: the sources are shipped as they are.
//
//   npm ci --prefix dashboard && node dashboard/build.mjs
//
// The output directory is generated: it is emptied and rewritten on every build.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "query_api", "static");
const pkgDir = join(here, "node_modules", "lightweight-charts");
const SOURCES = ["index.html", "app.js", "style.css"];
const VENDOR = [
  ["dist/lightweight-charts.standalone.production.mjs", "lightweight-charts.standalone.production.mjs"],
  ["LICENSE", "lightweight-charts.LICENSE.txt"],
];

if (!existsSync(join(pkgDir, "package.json"))) {
  console.error("error: dashboard/node_modules is missing: run `npm ci --prefix dashboard` first");
  process.exit(1);
}
const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).dependencies["lightweight-charts"];
const installed = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
if (pinned !== installed) {
  console.error(`error: lightweight-charts ${installed} is installed but ${pinned} is pinned: run \`npm ci --prefix dashboard\``);
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "vendor"), { recursive: true });
for (const name of SOURCES) copyFileSync(join(here, name), join(out, name));
for (const [from, to] of VENDOR) copyFileSync(join(pkgDir, from), join(out, "vendor", to));
writeFileSync(
  join(out, "BUILD.json"),
  JSON.stringify({ generatedBy: "dashboard/build.mjs", "lightweight-charts": installed }, null, 2) + "\n",
);
console.log(`dashboard: built ${SOURCES.length} files and lightweight-charts ${installed} into ${out}`);
