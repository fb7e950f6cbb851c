// N-way comparison: this view and any of the recent ones (the history kept in this browser),
// each analysed by POST /api/analyze, side by side with its ratio to the first. Uses app.js.
"use strict";

const VIEW_METRICS = [
  ["prefill time", (an) => an.totals.prefill.time, secs, "lower"],
  ["decode step time", (an) => an.totals.decode.time, secs, "lower"],
  ["time to first token", (an) => an.generation && an.generation.ttft, secs, "lower"],
  ["time per output token", (an) => an.generation && an.generation.tpot, secs, "lower"],
  ["throughput (tok/s)", (an) => an.generation && an.generation.throughput, (v) => si(v), "higher"],
  ["memory per device", (an) => (an.memory.generation || an.memory.decode).total, (v) => si(v, "B"), "lower"],
  ["fits", (an) => ((an.memory.generation || an.memory.decode).fits ? 1 : 0), (v) => (v ? "yes" : "NO"), null],
  ["energy per output token", (an) => an.economics && an.economics.energy_per_output_token, (v) => si(v, "J"), "lower"],
  ["$ per M output tokens", (an) => an.economics && an.economics.cost_per_million_output,
    (v) => (v == null ? "—" : `$${p3(v)}`), "lower"],
];

// What sets a view apart: its model and device, and each setting off its default.
function viewLabel(cfg) {
  const model = cfg.config ? cfg.config_name || "uploaded" : cfg.model.split("/").pop();
  const changes = Object.keys(cfg).filter((k) => !["model", "config", "config_name", "device"].includes(k)
    && !same(cfg[k], DEFAULTS[k])).map((k) => `${k}=${encode(cfg[k])}`);
  return [`${model} on ${cfg.device}`, ...changes].join(" · ");
}

function shownConfig(hash) {
  const configs = configsFrom(new URLSearchParams(hash.replace(/^#/, "")));
  return configs[configs.show];
}

function fillViews() {
  const entries = [{ hash: location.hash, what: "this view" },
    ...readHistory().filter((e) => e.what.startsWith("analysis") && e.hash !== location.hash)];
  const seen = new Set();
  $("#views-list").innerHTML = entries.filter((e) => {
    const key = JSON.stringify(shownConfig(e.hash));
    return !seen.has(key) && seen.add(key);
  }).map((e, i) => `<label class="check"><input type="checkbox" value="${esc(e.hash)}"${i < 4 ? " checked" : ""}>
    ${esc(i === 0 ? `this view: ${viewLabel(shownConfig(e.hash))}` : viewLabel(shownConfig(e.hash)))}</label>`).join("");
}

async function compareViews() {
  const hashes = [...document.querySelectorAll("#views-list input:checked")].map((e) => e.value);
  const configs = hashes.map(shownConfig);
  const box = $("#views-table");
  box.textContent = "analysing…";
  const answers = await Promise.all(configs.map(async (cfg) => {
    try {
      const res = await fetch("/api/analyze", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify(scenario(cfg)) });
      const data = await res.json();
      return res.ok ? { an: data } : { error: data.message || "error" };
    } catch (e) {
      return { error: `no answer from the server: ${e.message}` };
    }
  }));
  const head = configs.map((cfg, i) => `<th title="${esc(hashes[i])}">${esc(viewLabel(cfg))}</th>`).join("");
  const first = answers[0] && answers[0].an;
  const rows = VIEW_METRICS.map(([name, get, format, better]) => {
    const cells = answers.map((a, i) => {
      if (a.error) return `<td class="worse">${esc(a.error)}</td>`;
      const v = get(a.an);
      const base = first ? get(first) : null;
      const r = i > 0 && better && v != null && base ? v / base : null;
      const cls = r == null || Math.abs(r - 1) < 1e-9 ? "" : (r < 1) === (better === "lower") ? "better" : "worse";
      return `<td data-value="${v ?? ""}">${esc(format(v))}${r == null ? "" : ` <span class="${cls}">${esc(ratio(r))}</span>`}</td>`;
    }).join("");
    return `<tr><th>${esc(name)}</th>${cells}</tr>`;
  }).join("");
  box.innerHTML = `<table id="views-compare"><tr><th>metric</th>${head}</tr>${rows}</table>
    <p class="muted">Each view as shown (A or B), analysed afresh; ratios against the first.</p>`;
  cueScrolls();
}

function wireViews() {
  $("#views").addEventListener("toggle", () => { if ($("#views").open) fillViews(); });
  $("#compare-views").addEventListener("click", compareViews);
}
