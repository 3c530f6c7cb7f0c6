/**
 * The web console (`GET /`): one self-contained page, its CSS and script inline, nothing
 * loaded from elsewhere (the port's Content-Security-Policy forbids it). It polls
 * `/v1/console` every 2 s and redraws. Kept as a string in a TypeScript module so that
 * `tsc` alone ships it inside dist/ and the broker never looks for a file at run time.
 *
 * Everything drawn from the data goes through esc(): topic names, group ids, client ids and
 * addresses are user input. The script avoids template literals (this file is one).
 */
export const CONSOLE_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flotilla console</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --card:#fff; --ok:#127a3c; --bad:#c0262d; --warn:#b54708; --produce:#2f6fde; --fetch:#10936b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:baseline; gap:16px; padding:12px 20px; background:#111827; color:#f9fafb; }
  header h1 { margin:0; font-size:18px; }
  header .meta { color:#cbd5e1; font-size:13px; }
  main { padding:16px 20px; display:grid; gap:16px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
  h2 { margin:0 0 8px; font-size:15px; }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:middle; }
  th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
  td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
  .badge { display:inline-block; padding:0 6px; border-radius:9px; font-size:12px; font-weight:600; }
  .up { background:#dcfae6; color:var(--ok); } .down { background:#fee4e2; color:var(--bad); }
  .warn { background:#fef0c7; color:var(--warn); } .stale { background:#eaecf0; color:var(--muted); }
  .ctl { background:#e0eaff; color:#3538cd; }
  tr.problem td { background:#fff6f5; }
  .cards { display:flex; flex-wrap:wrap; gap:12px; }
  .card { border:1px solid var(--line); border-radius:8px; padding:8px 12px; min-width:120px; background:var(--card); }
  .card .v { font-size:20px; font-weight:650; font-variant-numeric: tabular-nums; }
  .card .k { color:var(--muted); font-size:12px; }
  .charts { display:flex; flex-wrap:wrap; gap:24px; }
  .chart .legend { font-size:12px; color:var(--muted); }
  .legend b.p { color:var(--produce); } .legend b.f { color:var(--fetch); }
  button.toggle { font:inherit; border:1px solid var(--line); background:#fff; border-radius:4px; cursor:pointer; padding:0 6px; }
  tr.detail > td { background:#fbfbfc; padding:8px 16px; }
  .muted { color:var(--muted); }
  #banner { display:none; padding:8px 20px; background:#fee4e2; color:var(--bad); }
  input[type=search] { font:inherit; padding:2px 6px; border:1px solid var(--line); border-radius:4px; }
  svg { display:block; }
</style>
</head>
<body>
<header><h1>Flotilla</h1><span class="meta" id="meta">loading…</span></header>
<div id="banner"></div>
<main>
  <div class="cards" id="cards"></div>
  <section><h2>Throughput, last 5 minutes</h2><div class="charts" id="charts"></div></section>
  <section><h2>Brokers</h2><div id="brokers"></div></section>
  <section><h2>Topics <input type="search" id="topic-filter" placeholder="filter topics" aria-label="filter topics"></h2><div id="topics"></div></section>
  <section><h2>Consumer groups</h2><div id="groups"></div></section>
</main>
<script>
"use strict";
var POLL_MS = 2000;
var PARTITION_ROWS = 100;
var open = new Set();
var shown = new Map();
var last = null;
var PRODUCE_COLOUR = "#2f6fde", FETCH_COLOUR = "#10936b";

function esc(value) {
  return String(value).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}
function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
function rate(n, unit) {
  var steps = unit === "B" ? [[1073741824, "GiB"], [1048576, "MiB"], [1024, "KiB"]] : [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (var i = 0; i < steps.length; i++) if (n >= steps[i][0]) return (n / steps[i][0]).toFixed(1) + " " + steps[i][1] + (unit === "B" ? "/s" : " rec/s");
  return (n < 10 && n > 0 ? n.toFixed(1) : Math.round(n)) + (unit === "B" ? " B/s" : " rec/s");
}
function lastOf(series) { return series.length ? series[series.length - 1] : 0; }
function badge(cls, text) { return '<span class="badge ' + cls + '">' + esc(text) + "</span>"; }
function list(ids) { return ids.length ? ids.map(esc).join(", ") : '<span class="muted">none</span>'; }

function polyline(values, max, w, h, color) {
  var step = values.length > 1 ? w / (values.length - 1) : w;
  var points = values.map(function (v, i) { return (i * step).toFixed(1) + "," + (h - 1 - (v / max) * (h - 2)).toFixed(1); }).join(" ");
  return '<polyline fill="none" stroke="' + color + '" stroke-width="1.5" points="' + points + '"/>';
}
function chart(title, produced, fetched, unit) {
  var w = 420, h = 110;
  var max = Math.max(1, Math.max.apply(null, produced), Math.max.apply(null, fetched));
  return '<div class="chart" data-chart="' + esc(unit) + '"><div><b>' + esc(title) + "</b></div>" +
    '<svg width="' + w + '" height="' + (h + 14) + '" viewBox="0 0 ' + w + " " + (h + 14) + '" role="img" aria-label="' + esc(title) + '">' +
    '<rect x="0" y="0" width="' + w + '" height="' + h + '" fill="#fafbfc" stroke="#e4e7ec"/>' +
    polyline(produced, max, w, h, PRODUCE_COLOUR) + polyline(fetched, max, w, h, FETCH_COLOUR) +
    '<text x="4" y="12" font-size="10" fill="#667085">' + esc(rate(max, unit)) + "</text>" +
    '<text x="0" y="' + (h + 12) + '" font-size="10" fill="#667085">5 min ago</text>' +
    '<text x="' + w + '" y="' + (h + 12) + '" font-size="10" fill="#667085" text-anchor="end">now</text></svg>' +
    '<div class="legend">' + legend("produce", "p", produced, unit) + " &nbsp; " + legend("fetch", "f", fetched, unit) + "</div></div>";
}
function legend(name, cls, series, unit) {
  return '<b class="' + cls + '">' + name + '</b> <span data-rate="' + name + "-" + esc(unit) + '">' + esc(rate(lastOf(series), unit)) + "</span>" +
    ' <span class="muted">(peak <span data-peak="' + name + "-" + esc(unit) + '">' + esc(rate(Math.max.apply(null, series), unit)) + "</span>)</span>";
}
function sparkline(series) {
  if (!series) return '<span class="muted">idle</span>';
  var p = series.producedRecords.slice(-60), f = series.fetchedRecords.slice(-60);
  var max = Math.max(1, Math.max.apply(null, p), Math.max.apply(null, f));
  return '<svg width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="records per second">' + polyline(p, max, 120, 24, PRODUCE_COLOUR) + polyline(f, max, 120, 24, FETCH_COLOUR) + "</svg>";
}
function toggle(key, label) {
  return '<button class="toggle" data-toggle="' + esc(key) + '" aria-expanded="' + open.has(key) + '">' + (open.has(key) ? "▾ " : "▸ ") + esc(label) + "</button>";
}

function renderCards(doc) {
  var partitions = 0, under = 0, leaderless = 0;
  doc.topics.forEach(function (t) { partitions += t.partitions.length; under += t.underReplicated; leaderless += t.leaderless; });
  var up = doc.brokers.filter(function (b) { return b.up; }).length;
  var cards = [
    ["brokers up", up + " / " + doc.brokers.length, up < doc.brokers.length],
    ["topics", num(doc.topics.length), false],
    ["partitions", num(partitions), false],
    ["under-replicated", num(under), under > 0],
    ["leaderless", num(leaderless), leaderless > 0],
    ["consumer groups", num(doc.groups.length), false],
  ];
  return cards.map(function (c) {
    return '<div class="card" data-card="' + esc(c[0]) + '"><div class="v"' + (c[2] ? ' style="color:var(--bad)"' : "") + ">" + esc(c[1]) + '</div><div class="k">' + esc(c[0]) + "</div></div>";
  }).join("");
}

function renderBrokers(doc) {
  var rows = doc.brokers.map(function (b) {
    var state = b.up ? badge("up", "up") : badge("down", "down");
    var marks = (b.controller ? " " + badge("ctl", "controller leader") : "") + (b.stale ? " " + badge("stale", "stale") : "");
    return '<tr data-broker-id="' + esc(b.id) + '"' + (b.up ? "" : ' class="problem"') + "><td>" + esc(b.id) + "</td><td>" + esc(b.address) + "</td><td>" + state + marks +
      '</td><td class="num">' + num(b.leaders) + '</td><td class="num">' + num(b.followers) + "</td></tr>";
  }).join("");
  return '<table><thead><tr><th>id</th><th>address</th><th>state</th><th class="num">replicas led</th><th class="num">replicas followed</th></tr></thead><tbody>' + rows + "</tbody></table>";
}

function leadersSummary(topic) {
  var counts = {};
  topic.partitions.forEach(function (p) { var k = p.leader === null ? "none" : p.leader; counts[k] = (counts[k] || 0) + 1; });
  return Object.keys(counts).map(function (k) { return (k === "none" ? "no leader" : "broker " + k) + ": " + counts[k]; }).map(esc).join(", ");
}
function partitionTable(topic) {
  var key = "t:" + topic.name;
  var limit = shown.get(key) || PARTITION_ROWS;
  var rows = topic.partitions.slice(0, limit).map(function (p) {
    var under = p.replicas.some(function (id) { return p.inSync.indexOf(id) < 0; });
    var marks = (p.leader === null ? badge("down", "leaderless") : "") + (under ? " " + badge("warn", "under-replicated") : "") + (p.stale ? " " + badge("stale", "stale") : "");
    return '<tr data-partition="' + esc(p.partition) + '"' + (p.leader === null || under ? ' class="problem"' : "") + '><td class="num">' + esc(p.partition) + '</td><td class="leader">' + (p.leader === null ? "–" : esc(p.leader)) +
      "</td><td>" + list(p.replicas) + '</td><td class="isr">' + list(p.inSync) + '</td><td class="num">' + num(p.highWatermark) + "</td><td>" + marks + "</td></tr>";
  }).join("");
  var more = topic.partitions.length > limit ? '<p><button class="toggle" data-more="' + esc(key) + '">show all ' + num(topic.partitions.length) + " partitions</button></p>" : "";
  return '<table><thead><tr><th class="num">partition</th><th>leader</th><th>replicas</th><th>in sync</th><th class="num">high watermark</th><th></th></tr></thead><tbody>' + rows + "</tbody></table>" + more;
}
function renderTopics(doc) {
  var filter = document.getElementById("topic-filter").value.trim().toLowerCase();
  var topics = doc.topics.filter(function (t) { return !filter || t.name.toLowerCase().indexOf(filter) >= 0; });
  if (!doc.topics.length) return '<p class="muted">no topics</p>';
  var rows = topics.map(function (t) {
    var key = "t:" + t.name;
    var series = Object.prototype.hasOwnProperty.call(doc.rates.topics, t.name) ? doc.rates.topics[t.name] : null;
    var marks = (t.leaderless ? badge("down", t.leaderless + " leaderless") : "") + (t.underReplicated ? " " + badge("warn", t.underReplicated + " under-replicated") : "") + (!t.leaderless && !t.underReplicated ? badge("up", "healthy") : "");
    var row = '<tr data-topic="' + esc(t.name) + '"' + (t.leaderless || t.underReplicated ? ' class="problem"' : "") + "><td>" + toggle(key, t.name) + '</td><td class="num">' + num(t.partitions.length) + "</td><td>" + leadersSummary(t) + "</td><td>" + marks +
      '</td><td class="num">' + esc(rate(series ? lastOf(series.producedRecords) : 0, "rec")) + '</td><td class="num">' + esc(rate(series ? lastOf(series.fetchedRecords) : 0, "rec")) + "</td><td>" + sparkline(series) + "</td></tr>";
    return row + (open.has(key) ? '<tr class="detail"><td colspan="7">' + partitionTable(t) + "</td></tr>" : "");
  }).join("");
  return '<table><thead><tr><th>topic</th><th class="num">partitions</th><th>leaders</th><th>state</th><th class="num">produce</th><th class="num">fetch</th><th>records/s</th></tr></thead><tbody>' + rows + "</tbody></table>";
}

function renderGroups(doc) {
  if (!doc.groups.length) return '<p class="muted">no consumer groups</p>';
  var rows = doc.groups.map(function (g) {
    var key = "g:" + g.id;
    var row = '<tr data-group="' + esc(g.id) + '"><td>' + toggle(key, g.id) + "</td><td>" + esc(g.state) + (doc.groupsStale ? " " + badge("stale", "stale") : "") + '</td><td class="num">' + esc(g.generation) +
      '</td><td class="num">' + num(g.members.length) + '</td><td class="num lag">' + num(g.lag) + "</td></tr>";
    if (!open.has(key)) return row;
    var members = g.members.map(function (m) {
      var assigned = m.assignment.map(function (a) { return esc(a.topic) + ":" + a.partitions.map(esc).join(","); }).join(" ");
      return "<tr><td>" + esc(m.memberId) + "</td><td>" + esc(m.clientId) + "</td><td>" + esc(m.clientAddress) + "</td><td>" + assigned + "</td></tr>";
    }).join("");
    var lags = g.partitions.map(function (p) {
      return '<tr data-group-partition="' + esc(p.topic + "/" + p.partition) + '"><td>' + esc(p.topic) + '</td><td class="num">' + esc(p.partition) + '</td><td class="num">' + num(p.committed) + '</td><td class="num">' + num(p.end) + '</td><td class="num">' + num(p.lag) + "</td></tr>";
    }).join("");
    return row + '<tr class="detail"><td colspan="5">' +
      "<table><thead><tr><th>member</th><th>client</th><th>address</th><th>assignment</th></tr></thead><tbody>" + (members || '<tr><td colspan="4" class="muted">no members</td></tr>') + "</tbody></table>" +
      '<table><thead><tr><th>topic</th><th class="num">partition</th><th class="num">committed</th><th class="num">end</th><th class="num">lag</th></tr></thead><tbody>' + lags + "</tbody></table></td></tr>";
  }).join("");
  return '<table><thead><tr><th>group</th><th>state</th><th class="num">generation</th><th class="num">members</th><th class="num">lag</th></tr></thead><tbody>' + rows + "</tbody></table>";
}

function render() {
  var doc = last;
  if (!doc) return;
  document.getElementById("meta").textContent = "served by broker " + doc.servedBy + " · controller leader " + (doc.controller === null ? "unknown" : "broker " + doc.controller) + " · updated " + new Date(doc.at).toLocaleTimeString();
  document.getElementById("cards").innerHTML = renderCards(doc);
  document.getElementById("charts").innerHTML = chart("records/s", doc.rates.total.producedRecords, doc.rates.total.fetchedRecords, "rec") + chart("bytes/s", doc.rates.total.producedBytes, doc.rates.total.fetchedBytes, "B");
  document.getElementById("brokers").innerHTML = renderBrokers(doc);
  document.getElementById("topics").innerHTML = renderTopics(doc);
  document.getElementById("groups").innerHTML = renderGroups(doc);
}

function poll() {
  fetch("/v1/console", { cache: "no-store" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (doc) { last = doc; document.getElementById("banner").style.display = "none"; render(); })
    .catch(function (error) {
      var banner = document.getElementById("banner");
      banner.textContent = "This broker does not answer (" + error.message + ")" + (last ? "; showing what it said at " + new Date(last.at).toLocaleTimeString() : "");
      banner.style.display = "block";
    })
    .finally(function () { setTimeout(poll, POLL_MS); });
}

document.addEventListener("click", function (event) {
  var button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.toggle) {
    if (open.has(button.dataset.toggle)) open.delete(button.dataset.toggle); else open.add(button.dataset.toggle);
  } else if (button.dataset.more) {
    shown.set(button.dataset.more, Infinity);
  } else return;
  render();
});
document.getElementById("topic-filter").addEventListener("input", render);
poll();
</script>
</body>
</html>
`;
