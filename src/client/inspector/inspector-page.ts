/**
 * The inspector's page: one self-contained HTML document (no CDN, no framework, nothing fetched
 * but the inspector's own API). Every value from a request is written with textContent, never
 * as HTML: request heads and bodies come from anyone on the internet.
 */
export const INSPECTOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>HopGate inspector</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; }
  header input { flex: 1; max-width: 420px; padding: 5px 8px; border-radius: 4px; border: 0; }
  main { display: grid; grid-template-columns: minmax(360px, 45%) 1fr; height: calc(100vh - 46px); }
  #list { overflow: auto; border-right: 1px solid #d8dce3; background: #fff; }
  table { border-collapse: collapse; width: 100%; }
  td, th { padding: 5px 8px; text-align: left; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
  th { position: sticky; top: 0; background: #fff; font-weight: 600; }
  tr.row { cursor: pointer; } tr.row:hover { background: #f0f4ff; } tr.selected { background: #dfe8ff; }
  td.path { max-width: 260px; overflow: hidden; text-overflow: ellipsis; }
  .s2 { color: #107c10; } .s3 { color: #0063b1; } .s4 { color: #b35c00; } .s5, .err { color: #c50f1f; }
  #detail { overflow: auto; padding: 12px 16px; }
  #detail h2 { font-size: 15px; margin: 4px 0 8px; word-break: break-all; }
  #detail h3 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; color: #5b6475; }
  pre { background: #fff; border: 1px solid #d8dce3; padding: 8px; overflow: auto; max-height: 40vh; white-space: pre-wrap; word-break: break-all; }
  button { padding: 5px 10px; margin-right: 6px; cursor: pointer; }
  .muted { color: #5b6475; }
  li.withheld { color: #b35c00; margin: 2px 0; }
  textarea, #detail input { width: 100%; box-sizing: border-box; font: 12px monospace; }
</style>
</head>
<body>
<header><h1>HopGate inspector</h1><input id="filter" placeholder="Filter: method, host, path or status"><span id="live" class="muted">connecting…</span></header>
<main>
  <div id="list"><table><thead><tr><th>Time</th><th>Method</th><th>Host</th><th>Path</th><th>Status</th><th>ms</th><th>Size</th></tr></thead><tbody id="rows"></tbody></table></div>
  <div id="detail"><p class="muted">Select a request.</p></div>
</main>
<script>
"use strict";
const rows = document.getElementById("rows");
const detail = document.getElementById("detail");
const filter = document.getElementById("filter");
const requests = new Map();
let selected = null;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}
function size(bytes) {
  return bytes < 1024 ? bytes + " B" : bytes < 1048576 ? (bytes / 1024).toFixed(1) + " KiB" : (bytes / 1048576).toFixed(1) + " MiB";
}
function matches(r) {
  const q = filter.value.trim().toLowerCase();
  return !q || [r.method, r.host, r.path, String(r.status ?? ""), r.domain].some((v) => v.toLowerCase().includes(q));
}
function render() {
  const list = [...requests.values()].sort((a, b) => b.id - a.id).filter(matches);
  rows.replaceChildren(...list.map((r) => {
    const status = r.status === null ? "…" : String(r.status);
    const tr = el("tr", { className: "row" + (r.id === selected ? " selected" : "") },
      el("td", { textContent: new Date(r.started_at).toLocaleTimeString() }),
      el("td", { textContent: r.method }),
      el("td", { textContent: r.host }),
      el("td", { className: "path", textContent: r.path, title: r.path }),
      el("td", { className: r.error ? "err" : "s" + status[0], textContent: status }),
      el("td", { textContent: r.duration_ms ?? "" }),
      el("td", { textContent: size(r.response_bytes) }));
    tr.dataset.id = r.id;
    if (r.replay_of !== null) tr.title = "replay of #" + r.replay_of;
    tr.addEventListener("click", () => select(r.id));
    return tr;
  }));
}
function bodyBlock(body) {
  if (body.kind === "empty") return el("p", { className: "muted", textContent: "(no body)" });
  const note = (body.truncated ? "first bytes of " : "") + size(body.size) + (body.kind === "binary" ? ", binary (hex)" : "");
  return el("div", {}, el("p", { className: "muted", textContent: note }), el("pre", { className: "body", textContent: body.kind === "binary" ? body.hex : body.text }));
}
function headerBlock(headers) {
  return el("pre", { textContent: headers.map(([n, v]) => n + ": " + v).join("\\n") || "(none)" });
}
function withheldBlock(withheld) {
  return el("ul", { id: "withheld-trailers" }, ...withheld.map((w) => el("li", { className: "withheld" }, el("code", { textContent: w.name }), ": " + w.detail)));
}
async function select(id, reveal) {
  selected = id;
  render();
  const response = await fetch("/api/requests/" + id + (reveal ? "?reveal=1" : ""));
  if (!response.ok) { detail.replaceChildren(el("p", { className: "err", textContent: "Request " + id + " is gone." })); return; }
  const r = await response.json();
  const method = el("input", { value: r.method, id: "replay-method" });
  const path = el("input", { value: r.path, id: "replay-path" });
  const body = el("textarea", { rows: 4, id: "replay-body", value: r.request.body.text ?? "" });
  const replay = el("button", { id: "replay", textContent: "Replay" });
  replay.addEventListener("click", async () => {
    const edits = { method: method.value, path: path.value };
    if (r.request.body.kind === "text" || r.request.body.kind === "json" || body.value) edits.body = body.value;
    const answer = await fetch("/api/requests/" + r.id + "/replay", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(edits) });
    const result = await answer.json();
    if (answer.ok) select(result.id); else alert(result.error);
  });
  const copy = el("button", { textContent: "Copy as curl" });
  copy.addEventListener("click", () => navigator.clipboard?.writeText(r.curl).then(() => (copy.textContent = "Copied"), () => (copy.textContent = "Copy failed")));
  const revealButton = el("button", { textContent: reveal ? "Mask credentials" : "Show credentials" });
  revealButton.addEventListener("click", () => select(r.id, !reveal));
  detail.replaceChildren(
    el("h2", { textContent: r.method + " https://" + r.host + r.path }),
    el("p", { id: "detail-status", className: r.error ? "err" : "", textContent: "Status " + (r.status ?? "…") + " · " + (r.duration_ms ?? "…") + " ms · service " + r.service + " of " + r.domain + (r.error ? " · " + r.error : "") + (r.replay_of !== null ? " · replay of #" + r.replay_of : "") }),
    el("div", {}, replay, copy, revealButton),
    el("h3", { textContent: "Request headers" }), headerBlock(r.request.headers),
    el("h3", { textContent: "Request body" }), bodyBlock(r.request.body),
    ...(r.request.trailers.length ? [el("h3", { textContent: "Request trailers" }), headerBlock(r.request.trailers)] : []),
    el("h3", { textContent: "Response headers" }), headerBlock(r.response.headers),
    el("h3", { textContent: "Response body" }), bodyBlock(r.response.body),
    ...(r.response.trailers.length ? [el("h3", { textContent: "Response trailers" }), headerBlock(r.response.trailers)] : []),
    ...(r.response.withheld_trailers.length ? [el("h3", { textContent: "Trailers the visitor did not get" }), withheldBlock(r.response.withheld_trailers)] : []),
    el("h3", { textContent: "Replay with changes" }), el("label", { textContent: "Method" }), method, el("label", { textContent: "Path" }), path, el("label", { textContent: "Body" }), body,
    el("h3", { textContent: "curl" }), el("pre", { textContent: r.curl }));
}
filter.addEventListener("input", render);
fetch("/api/requests").then((r) => r.json()).then((data) => {
  for (const r of data.requests) requests.set(r.id, r);
  render();
});
const events = new EventSource("/api/events");
events.addEventListener("open", () => (document.getElementById("live").textContent = "live"));
events.addEventListener("error", () => (document.getElementById("live").textContent = "reconnecting…"));
events.addEventListener("request", (event) => {
  const { request } = JSON.parse(event.data);
  requests.set(request.id, request);
  render();
});
</script>
</body>
</html>
`;
