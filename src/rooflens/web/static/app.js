// rooflens web viewer: the form is built from the API's own schema (/openapi.json), the whole
// state lives in the URL hash, and every change asks /api/view for what the panels show.
// The serving and advisor pages live in serving.js, which starts the page.
"use strict";

const COLORS = { memory: "#4e79a7", compute: "#e15759", link: "#b07aa1", "host link": "#9c755f" };
// Operators that read the same input and run side by side in the block.
const PARALLEL = [
  ["q_proj", "k_proj", "v_proj"],
  ["gate_proj", "up_proj"],
  ["expert_gate_proj", "expert_up_proj"],
  ["shared_gate_proj", "shared_up_proj"],
];
const BASIC = {
  model: "meta-llama/Llama-3.1-8B", config: "", config_name: "", device: "h100-sxm",
  bw: null, mem: null, peaks: "", tdp: null, batch: 1, prompt_len: null, gen_len: 128, images: 0,
};
const BASIC_KIND = {
  bw: "float", mem: "float", tdp: "float", batch: "int", prompt_len: "int", gen_len: "int", images: "int",
};
const OPEN_GROUPS = ["Precision", "Attention"];
const STAGES = ["prefill", "decode", "generation", "vision"];

let FIELDS = [];      // analysis options from the schema: {key, section, kind, choices, nullable, ...}
let DEFAULTS = {};    // one configuration with every default
const state = { a: null, b: null, show: "a", stage: "decode", op: null, page: "analysis" };
let last = null;      // the last /api/view answer
let seq = 0;
let timer = null;
let rendered = 0;

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Which attention an operator is where a model has layers of each (Gemma 3: window, global).
const opLabel = (o) => o.name + (o.span ? ` (≤${o.span.toLocaleString("en")} keys)` : "")
  + (o.chunk ? ` (chunks of ${o.chunk.toLocaleString("en")})` : "")
  + (o.mlp_width ? ` (${o.mlp_width.toLocaleString("en")} wide)` : "");
const clone = (o) => JSON.parse(JSON.stringify(o));

// Numbers ---------------------------------------------------------------------------------------
// The CLI's prefixes (rooflens.cli.format): a long prefill's OPs reach exa.
const PREFIXES = [[1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
const p3 = (v) => String(Number(v.toPrecision(3)));
// Each rounds before it picks the prefix or unit: 999.9e6 reads 1 G, not 1000 M.
function si(v, unit = "") {
  if (v == null || !isFinite(v)) return "—";
  const rounded = Number(v.toPrecision(3));
  for (const [scale, prefix] of PREFIXES) {
    if (Math.abs(rounded) >= scale) return `${p3(v / scale)} ${prefix}${unit}`;
  }
  return `${p3(v)} ${unit}`.trim();
}

// Ticks for a log axis over `values`: 1, 2 and 5 times the powers of ten in their range,
// each written as the number it is (Plotly wrote 0.2 as "2" beside 1 on such an axis).
function logTicks(values) {
  const shown = values.filter((v) => v > 0 && Number.isFinite(v));
  if (!shown.length) return {};
  const lo = Math.min(...shown), hi = Math.max(...shown);
  const tickvals = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo / 1.5 && v <= hi * 1.5) tickvals.push(Number(v.toPrecision(3)));
    }
  }
  return { tickmode: "array", tickvals, ticktext: tickvals.map((v) => p3(v)) };
}

function secs(v) {
  if (v == null || !isFinite(v)) return "—";
  const rounded = Number(v.toPrecision(3));
  if (rounded === 0) return "0 s";
  for (const [scale, unit] of [[1, "s"], [1e-3, "ms"], [1e-6, "µs"]]) {
    if (rounded >= scale) return `${p3(v / scale)} ${unit}`;
  }
  return `${p3(v / 1e-9)} ns`;
}
// Shares: whole percents, one digit under 1 %, and "<0.01%" for what rounds to nothing.
function pct(v) {
  if (v == null || !isFinite(v)) return "—";
  if (v > 0 && v < 1e-4) return "<0.01%";
  if (v > 0 && v < 0.01) return `${Number((v * 100).toPrecision(1))}%`;
  return `${Math.round(v * 100)}%`;
}
// Counts of things, as model names write them: 8.03e9 -> "8B", 70.6e9 -> "71B", 1.24e9 -> "1.2B".
function count(v) {
  if (v == null || !isFinite(v)) return "—";
  for (const [scale, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    const x = v / scale;
    if (x >= 1) return `${x >= 10 ? Math.round(x) : Number(x.toPrecision(2))}${suffix}`;
  }
  return String(Math.round(v));
}
const ratio = (v) => (v == null || !isFinite(v) ? "—" : `${p3(v)}×`);

// The schema -> form fields ---------------------------------------------------------------------
function field(key, section, prop, schemas) {
  let p = prop;
  let nullable = false;
  if (p.anyOf) {
    const alts = p.anyOf.filter((a) => a.type !== "null");
    nullable = alts.length < p.anyOf.length;
    // Words or a number (w_scale: channel, tensor or a block's weight count such as 16384):
    // one box offering the words and taking a number too. A select of the words alone showed
    // "—" for a block size the URL held, while every request sent it.
    const words = alts.flatMap((a) => a.enum || []);
    const number = alts.find((a) => a.type === "integer" || a.type === "number");
    if (alts.length > 1 && words.length && number) {
      return {
        key, section, kind: "either", choices: words, integer: number.type === "integer", nullable,
        title: p.title || key, help: [p.description, p.accepts && `Takes ${p.accepts}.`]
          .filter(Boolean).join(" "),
        group: p.group || section, default: p.default ?? null,
      };
    }
    p = { ...alts[0], ...p };
  }
  if (p.$ref) p = { ...schemas[p.$ref.split("/").pop()], ...p };
  // A switch that may also be left empty (the estimate decides) is a choice of three.
  const choices = p.enum || (p.items && p.items.enum)
    || (p.type === "boolean" && nullable ? [true, false] : null);
  const kind = p.type === "array" ? "multi" : choices ? "select"
    : { boolean: "bool", integer: "int", number: "float" }[p.type] || "text";
  return {
    key, section, kind, choices, nullable, title: p.title || key, help: p.description || "",
    group: p.group || section, default: p.default ?? null,
    min: p.minimum ?? p.exclusiveMinimum, max: p.maximum ?? p.exclusiveMaximum,
  };
}

function fieldsFrom(openapi) {
  const schemas = openapi.components.schemas;
  const out = [];
  for (const [section, name] of [["options", "Options"], ["speculative", "Speculative"],
    ["economics", "Economics"]]) {
    for (const [key, prop] of Object.entries(schemas[name].properties)) {
      out.push(field(key, section, prop, schemas));
    }
  }
  return out;
}

function inputFor(f, prefix = "opt-") {
  const attrs = `data-key="${f.key}" id="${prefix}${f.key}" title="${esc(f.help)}"`;
  if (f.kind === "bool") {
    return `<label class="check"><input type="checkbox" ${attrs}> ${esc(f.title)}</label>`;
  }
  if (f.kind === "multi") {
    // A list that may be left empty (None: the estimate decides, as an engine's fusions)
    // differs from an empty list (none at all): its first box stands for "not given".
    const unset = f.nullable ? `<label class="check"><input type="checkbox" data-key="${f.key}"
      data-unset value=""> default</label>` : "";
    const boxes = unset + f.choices.map((c) => `<label class="check"><input type="checkbox" data-key="${f.key}"
      value="${esc(c)}"> ${esc(c)}</label>`).join("");
    return `<div class="multi" title="${esc(f.help)}"><span>${esc(f.title)}</span>${boxes}</div>`;
  }
  let control;
  if (f.kind === "either") {
    const list = `${prefix}${f.key}-choices`;
    const opts = f.choices.map((c) => `<option value="${esc(c)}"></option>`).join("");
    control = `<input type="text" list="${list}" placeholder="${f.nullable ? "none" : ""}" ${attrs}>` +
      `<datalist id="${list}">${opts}</datalist>`;
  } else if (f.kind === "select") {
    const none = f.nullable ? `<option value="">—</option>` : "";
    const opts = f.choices.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join("");
    control = `<select ${attrs}>${none}${opts}</select>`;
  } else if (f.kind === "int" || f.kind === "float") {
    const step = f.kind === "int" ? "1" : "any";
    const bounds = (f.min != null ? ` min="${f.min}"` : "") + (f.max != null ? ` max="${f.max}"` : "");
    const hint = f.nullable ? ` placeholder="none"` : "";
    control = `<input type="number" step="${step}"${bounds}${hint} ${attrs}>`;
  } else {
    const list = { draft: ` list="model-list"`, engine_version: ` list="engine-versions"` }[f.key] || "";
    control = `<input type="text"${list} placeholder="${f.nullable ? "none" : ""}" ${attrs}>`;
  }
  return `<label>${esc(f.title)} ${control}</label>`;
}

function buildForm() {
  const groups = {};
  for (const f of FIELDS) (groups[f.group] ||= []).push(f);
  $("#option-groups").innerHTML = Object.entries(groups).map(([name, fs]) =>
    `<details class="group"${OPEN_GROUPS.includes(name) ? " open" : ""}>
      <summary>${esc(name)}</summary>${fs.map((f) => inputFor(f)).join("")}</details>`).join("");
}

const kindOf = (key) => (FIELDS.find((f) => f.key === key) || { kind: BASIC_KIND[key] || "text" });
// Sizes that cannot be empty: an emptied box is its default, as an option's is. An empty
// prompt is the API's default for the model (2048 tokens, or what its context leaves after
// the generation, as `rooflens analyze` takes it): a fixed 2048 was refused for GPT-2.
const REQUIRED_SIZES = ["batch", "images"];

// An empty value of a setting that cannot be empty (tensor parallel, batch) is its default:
// None was sent and refused ("tp=None is invalid"), and the page stayed failed.
function orDefault(key, value) {
  if (value != null && value !== "") return value;
  const f = FIELDS.find((x) => x.key === key);
  const required = f ? !f.nullable && f.default != null : REQUIRED_SIZES.includes(key);
  return required ? DEFAULTS[key] : value;
}

// Form <-> state --------------------------------------------------------------------------------
const numeric = (f) => f.choices && typeof f.choices[0] === "number";
const switched = (f) => f.choices && typeof f.choices[0] === "boolean";

// A box of words or a number: digits are the number, anything else the text as typed (the API
// names what it takes when the text is neither).
function wordOrNumber(text, f) {
  const t = text.trim();
  if (t === "") return f.nullable ? null : "";
  return (f.integer ? /^\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i).test(t) ? Number(t) : t;
}

function readInput(el, f = kindOf(el.dataset.key), root = document) {
  if (f.kind === "multi") {
    // Ticking "default" clears the list to None; unticking it leaves an empty list.
    if ("unset" in el.dataset) return el.checked ? null : [];
    const values = [...root.querySelectorAll(`input[data-key="${f.key}"]:checked:not([data-unset])`)]
      .map((e) => e.value);
    return numeric(f) ? values.map(Number) : values;
  }
  if (f.kind === "bool") return el.checked;
  if (f.kind === "either") return wordOrNumber(el.value, f);
  if (el.value === "") return f.nullable || f.kind === "int" || f.kind === "float" ? null : "";
  if (f.kind === "int" || f.kind === "float") return Number(el.value);
  if (f.kind === "select" && numeric(f)) return Number(el.value);
  if (f.kind === "select" && switched(f)) return el.value === "true";
  return el.value;
}

// Whether a box of a list field is ticked for the list `value` (None ticks only "default").
function multiChecked(el, value, f) {
  if ("unset" in el.dataset) return value == null;
  return (value || []).includes(numeric(f) ? Number(el.value) : el.value);
}

function fillForm(everyBox = false) {
  const cfg = state[state.show];
  for (const el of document.querySelectorAll("#controls [data-key]")) {
    const value = cfg[el.dataset.key];
    if (el.type === "checkbox" && kindOf(el.dataset.key).kind === "multi") {
      el.checked = multiChecked(el, value, kindOf(el.dataset.key));
    } else if (el.type === "checkbox") {
      el.checked = Boolean(value);
    } else if (everyBox || el !== document.activeElement) {
      // The field being typed in keeps its text: "2." read as 2 and written back put the
      // caret first, and 2.49 became 492.
      el.value = value == null ? "" : value;
    }
  }
  if (cfg.config) $("#model").value = "";
  for (const radio of document.querySelectorAll('input[name="stage"]')) {
    radio.checked = radio.value === state.stage;
  }
  $("#uploaded").hidden = !cfg.config;
  $("#uploaded span").textContent = cfg.config ? `uploaded: ${cfg.config_name}` : "";
  $("#device-custom").open ||= cfg.device === "custom" || cfg.bw != null || cfg.mem != null
    || cfg.tdp != null;
  $("#tab-b").hidden = !state.b;
  $("#drop-b").hidden = !state.b;
  $("#add-b").hidden = Boolean(state.b);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.show === state.show);
  }
  $("#editing").textContent = state.b
    ? `Editing ${state.show.toUpperCase()}: the panels show ${state.show.toUpperCase()}; the table at the bottom compares A with B.`
    : "";
  fillPages();
}

// "bf16=989e12, fp8=1.98e15" (peaks) or "h100-sxm=2.5" (prices): each figure sent as a
// JSON number, as the API takes it; what reads as no number is sent as typed, for the API
// to name.
function parsePeaks(text) {
  const peaks = {};
  for (const item of text.split(",").map((x) => x.trim()).filter(Boolean)) {
    const [dtype, value] = item.split("=").map((x) => x.trim());
    const number = value ? Number(value) : NaN;
    peaks[dtype] = Number.isFinite(number) ? number : value ?? "";
  }
  return peaks;
}

function scenario(cfg) {
  const model = cfg.config
    ? { config: JSON.parse(cfg.config), name: cfg.config_name || "uploaded" }
    : { id: cfg.model };
  const device = cfg.device === "custom" ? {} : { name: cfg.device };
  if (cfg.bw != null) device.memory_bandwidth = cfg.bw;
  if (cfg.mem != null) device.memory_capacity = cfg.mem;
  if (cfg.peaks) device.peak_ops = parsePeaks(cfg.peaks);
  if (cfg.tdp != null) device.tdp = cfg.tdp;
  const out = { model, device, batch: cfg.batch, prompt_len: cfg.prompt_len, gen_len: cfg.gen_len,
    options: {}, speculative: {}, economics: {} };
  // Images only where given, as the API takes them: a text-only model refuses any count.
  if (cfg.images) out.images = cfg.images;
  for (const f of FIELDS) out[f.section][f.key] = cfg[f.key];
  // γ, α and the tree width shape a drafter's estimate; without a drafter the API refuses
  // them (as the command line does), so the form keeps them for when one is chosen.
  const sp = out.speculative;
  if (!sp.draft && !sp.medusa_heads && !sp.mtp) {
    for (const key of ["gamma", "alpha", "tree_width"]) delete sp[key];
  }
  return out;
}

// URL -------------------------------------------------------------------------------------------
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);

function encode(v) {
  if (v == null) return "";
  if (typeof v === "boolean") return v ? "1" : "0";
  return Array.isArray(v) ? v.join(",") : String(v);
}

function decode(key, text, f = kindOf(key)) {
  if (f.kind === "bool") return text === "1" || text === "true";
  if (f.kind === "multi") return text ? text.split(",").map((v) => (numeric(f) ? Number(v) : v)) : [];
  if (f.kind === "either") return wordOrNumber(text, f);
  if (text === "" && (f.nullable || f.kind === "int" || f.kind === "float")) return null;
  if (f.kind === "int" || f.kind === "float") return Number(text);
  if (f.kind === "select" && numeric(f)) return Number(text);
  if (f.kind === "select" && switched(f)) return text === "1" || text === "true";
  return text;
}

let shownHash = "";   // the URL hash the page shows

// The URL is the whole view. A change of settings replaces the browser's entry; a change of
// page pushes one, so that Back returns to the page before.
function writeURL(push = false) {
  const params = new URLSearchParams();
  for (const [key, v] of Object.entries(state.a)) if (!same(v, DEFAULTS[key])) params.set(key, encode(v));
  if (state.b) {
    params.set("cmp", "1");
    for (const [key, v] of Object.entries(state.b)) {
      if (!same(v, state.a[key])) params.set(`b.${key}`, encode(v));
    }
  }
  if (state.show !== "a") params.set("show", state.show);
  if (state.stage !== "decode") params.set("stage", state.stage);
  if (state.op != null) params.set("op", state.op);
  writePages(params);
  const hash = `#${params.toString()}`;
  shownHash = hash;
  if (push && hash !== location.hash) history.pushState(null, "", hash);
  else history.replaceState(null, "", hash);
}

// The configurations a URL fragment holds: A, B (or null) and which one is shown.
function configsFrom(params) {
  const a = clone(DEFAULTS);
  for (const [key, text] of params) if (key in DEFAULTS) a[key] = orDefault(key, decode(key, text));
  let b = null;
  if (params.get("cmp") === "1") {
    b = clone(a);
    for (const [key, text] of params) {
      const own = key.slice(2);
      if (key.startsWith("b.") && own in DEFAULTS) b[own] = orDefault(own, decode(own, text));
    }
  }
  return { a, b, show: params.get("show") === "b" && b ? "b" : "a" };
}

function readURL() {
  const params = new URLSearchParams(location.hash.slice(1));
  Object.assign(state, configsFrom(params));
  state.stage = STAGES.includes(params.get("stage")) ? params.get("stage") : "decode";
  state.op = params.has("op") && params.get("op") !== "" ? Number(params.get("op")) : null;
  readPages(params);
}

// Talking to the API ----------------------------------------------------------------------------
// `wait`: a burst of keystrokes sends one request; a pick from a list or a box sends at once.
function changed(wait = 40) {
  writeURL();
  clearTimeout(timer);
  timer = setTimeout(refresh, wait);
}

// Each page's state, shown on every result panel (style.css): idle (not run yet), running,
// stale (the settings changed since), failed (the last good result stays, dimmed), unshown
// (failed before any result), ok.
function setState(page, value) {
  $(`#page-${page}`).dataset.state = value;
}

async function refresh() {
  const id = ++seq;
  let body;
  try {
    body = { a: scenario(state.a), b: state.b ? scenario(state.b) : null, show: state.show };
  } catch (e) {
    showError({ message: `the uploaded config in the URL is not valid JSON: ${e.message}` });
    setState("analysis", "failed");
    return;
  }
  document.body.classList.add("busy");
  setState("analysis", "running");
  let res, data;
  try {
    res = await fetch("/api/view", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    data = await res.json();
  } catch (e) {
    if (id === seq) {
      showError({ message: `no answer from the server: ${e.message}` }, refresh);
      setState("analysis", "failed");
    }
    return;
  } finally {
    if (id === seq) document.body.classList.remove("busy");
  }
  if (id !== seq) return;
  if (!res.ok) {
    showError(data, refresh);
    // Before any result there is no last good one to dim: say that nothing was shown yet.
    setState("analysis", last ? "failed" : "unshown");
    if (!last) $("#headline").textContent = "nothing to show yet: the settings were refused";
    return;
  }
  clearError();
  last = data;
  setState("analysis", "ok");
  render();
}

const LOC_KEYS = { id: "model", config: "model", name: "device", memory_bandwidth: "bw",
  memory_capacity: "mem", peak_ops: "peaks", tdp: "tdp" };

let retryAction = null;

// The message of a failed request, with a retry of what failed (`retry`) when it may help.
function showError(data, retry = null) {
  const box = $("#error-text");
  const loc = (data.detail && data.detail[0] && data.detail[0].loc) || [];
  const which = ["a", "b"].includes(loc[1]) ? loc[1] : null;
  const key = [...loc].reverse().map((p) => LOC_KEYS[p] || p).find((p) => p in (DEFAULTS || {}));
  const where = which && state.b ? ` (in ${which.toUpperCase()})` : "";
  const message = data.message || (typeof data.detail === "string" ? data.detail : "error");
  box.textContent = `${message}${where}`;
  retryAction = retry;
  $("#retry").hidden = !retry;
  $("#error").hidden = false;
  for (const el of document.querySelectorAll(".invalid")) el.classList.remove("invalid");
  if (key && (!which || which === state.show)) {
    for (const el of document.querySelectorAll(`[data-key="${key}"]`)) el.classList.add("invalid");
  }
}

function clearError() {
  $("#error").hidden = true;
  for (const el of document.querySelectorAll(".invalid")) el.classList.remove("invalid");
}

// Panels ----------------------------------------------------------------------------------------
// The vision encoder's operators where the analysis has them (a multimodal model given images).
const hasVision = () => Boolean(last && last.analysis.totals.vision);
const graphStage = () => {
  if (state.stage === "vision") return hasVision() ? "vision" : "decode";
  return state.stage === "prefill" ? "prefill" : "decode";
};
const stageOps = (stage) => last.analysis.operators.filter((o) => o.stage === stage);

// The header's line: the model shown, and on the analysis and serving pages the device and
// what priced it. The advisor searches devices itself (and prices with its own engine): there
// the line names the devices it searches, not the device on the left, which it ignores.
function fillHeadline() {
  if (!last) return;
  const an = last.analysis;
  const params = ` · ${count(an.model.params)} params` +
    (an.model.active_params !== an.model.params ? ` (${count(an.model.active_params)} active)` : "");
  if (state.page === "advise") {
    const ticked = state.advise.devices || [];
    $("#headline").textContent = `${an.model.id}${params} · across ` +
      (ticked.length ? ticked.join(", ") : "every priced device");
    $("#headline").title = "";
    return;
  }
  // Operators the engine profile prices with another type's curves, or outside the sizes its
  // curves were fitted over: counted, and named on hover.
  const fallbacks = an.fallbacks || [];
  const notes = an.notes || [];
  const counted = (n, what) => (n ? ` · ${n} ${what}${n > 1 ? "s" : ""}` : "");
  $("#headline").textContent = `${an.model.id} on ${an.device.display_name}${params} · ` +
    an.estimate + counted(fallbacks.length, "fallback") + counted(notes.length, "extrapolation");
  $("#headline").title = [
    ...fallbacks.map((line) => `fallback: ${line}`),
    ...notes.map((line) => `extrapolated: ${line}`),
  ].join("\n");
}

function render() {
  const an = last.analysis;
  const dev = an.device;
  fillHeadline();
  $("#model-info").textContent = `${an.model.model_type} · ${an.model.num_layers} layers · hidden ` +
    `${an.model.hidden_size} · ${an.model.num_heads}/${an.model.num_kv_heads} heads · ` +
    `max ${an.model.max_positions} positions`;
  $("#device-info").textContent = `${si(dev.memory_bandwidth, "B/s")} · ${si(dev.memory_capacity, "B")} · ` +
    Object.entries(dev.peak_ops).map(([k, v]) => `${k} ${si(v, "OP/s")}`).join(", ");
  renderTotals(an);
  renderWhy(an);
  renderGraph();
  renderDetails();
  renderRoofline(an);
  renderMemory(an);
  renderCurve("batch", "#batch-curve", "batch size");
  renderCurve("prompt_len", "#seq-curve", "prompt length (tokens)");
  renderCompare();
  renderTable();
  cueScrolls();
  markStale();
  rememberAnalysis();
  document.body.dataset.rendered = String(++rendered);
}

// A value longer than this is words (what priced a run, a fallback), which wrap in the card;
// a figure stays on one line.
const WORDS_FROM = 28;

function card(title, rows, current) {
  const body = rows.map(([label, value, id]) => {
    const words = String(value).length > WORDS_FROM ? ' class="words"' : "";
    return `<div${words}><span>${esc(label)}</span><b${id ? ` id="${id}"` : ""}>${esc(value)}</b></div>`;
  }).join("");
  return `<div class="card${current ? " current" : ""}"><h3>${esc(title)}</h3>${body}</div>`;
}

function renderTotals(an) {
  const t = an.totals;
  const stageRows = (st) => [
    ["time", secs(t[st].time), `total-${st}-time`],
    ["OPs", si(t[st].ops)],
    ["memory access", si(t[st].memory_access, "B")],
    ["compute-bound", pct(t[st].compute_bound_time / t[st].time)],
  ];
  $("#stage-vision").hidden = !t.vision;
  if (!t.vision && state.stage === "vision") {
    // The encoder's stage went with the images: the decode step is shown, and said so.
    state.stage = "decode";
    for (const radio of document.querySelectorAll('input[name="stage"]')) {
      radio.checked = radio.value === "decode";
    }
    writeURL();
  }
  const cards = [
    ...(t.vision ? [card("Vision encoder", stageRows("vision"), state.stage === "vision")] : []),
    card("Prefill", stageRows("prefill"), state.stage === "prefill"),
    card("Decode step", stageRows("decode"), state.stage === "decode"),
  ];
  const mem = an.memory.generation || an.memory.decode;
  const g = an.generation;
  if (!mem.fits) {
    // Throughput, cost and speed-ups of a setup that cannot run would mislead: say why instead.
    const over = Object.entries(an.memory).filter(([, m]) => !m.fits).map(([st]) => st).join(", ");
    $("#totals").innerHTML = cards.join("") + `<div class="card nofit" id="total-nofit">
      <h3>Does not fit</h3><p>needs <b>${esc(si(mem.total, "B"))}</b> of
      <b>${esc(si(mem.capacity, "B"))}</b> per device (${esc(over)})</p>
      <p class="muted">no throughput, energy or cost for a setup that cannot run: quantize,
      add tensor parallelism, offload, or pick a larger device.</p></div>` +
      card("Memory", [["largest batch that fits", si(mem.max_batch)]]);
    return;
  }
  if (g) {
    const n = an.inputs.gen_len;
    cards.push(card(`Generation of ${n} token${n === 1 ? "" : "s"}`, [
      ["time to first token", secs(g.ttft), "total-ttft"],
      ["time per output token", secs(g.tpot), "total-tpot"],
      ["end-to-end", secs(g.e2e_latency), "total-e2e"],
      ["throughput", `${si(g.throughput)} tok/s`, "total-throughput"],
    ], state.stage === "generation"));
  }
  cards.push(card("Memory", [
    ["total", `${si(mem.total, "B")} of ${si(mem.capacity, "B")}`
      + (engineShare(an, mem.capacity) ? ` (${engineShare(an, mem.capacity)})` : ""), "total-memory"],
    ["fits", mem.fits ? "yes" : "NO"],
    ["largest batch that fits", si(mem.max_batch)],
  ]));
  // Power and energy need the device's TDP, cost a price: a custom device with neither has none.
  cards.push(an.economics ? economicsCard(an.economics, an.device)
    : card("Energy and cost", [["needs", "the device's TDP (under its figures) or a price (under Energy and cost)"]]));
  if (an.speculative) {
    const sp = an.speculative;
    cards.push(card("Speculative decoding", [
      ["tokens per step", p3(sp.tokens_per_step)],
      ["time per token", secs(sp.time_per_token)],
      ["speed-up", ratio(sp.speedup)],
    ]));
  }
  $("#totals").innerHTML = cards.join("");
}

function economicsCard(e, device) {
  const rows = [
    ["power prefill / decode", `${si(e.prefill_power, "W")} / ${si(e.decode_power, "W")}`],
    ["energy per output token", si(e.energy_per_output_token, "J"), "total-energy-token"],
  ];
  if (e.energy_per_request != null) rows.push(["energy per request", si(e.energy_per_request, "J")]);
  // A one-token answer runs no decode step: its output figures are null, its input priced.
  if (e.cost_per_million_input != null) {
    const price = state[state.show].hourly_price ?? device.hourly_price;
    const output = e.cost_per_million_output;
    rows.push([`$ per M output tokens at $${p3(price)}/h`, output == null ? "—" : `$${p3(output)}`,
      "total-cost-output"]);
    rows.push(["$ per M input tokens", `$${p3(e.cost_per_million_input)}`]);
  } else {
    rows.push(["cost", "no price: give one under Energy and cost"]);
  }
  if (e.carbon_per_million_output != null) {
    rows.push(["CO2e per M output tokens", si(e.carbon_per_million_output, "g"), "total-carbon"]);
  }
  return card("Energy and cost", rows);
}

function boundShares(ops) {
  const total = ops.reduce((s, o) => s + (o.total_time || 0), 0) || 1;
  const shares = {};
  for (const o of ops) shares[o.bound] = (shares[o.bound] || 0) + (o.total_time || 0) / total;
  return shares;
}

function renderWhy(an) {
  const stage = graphStage();
  const t = an.totals[stage];
  const ops = stageOps(stage);
  // The ridge point of the dtype doing most of the stage's work (matrix products, usually).
  const work = {};
  for (const o of ops) work[o.compute_dtype] = (work[o.compute_dtype] || 0) + o.ops * o.count;
  const dtype = Object.keys(work).reduce((a, b) => (work[b] > work[a] ? b : a));
  const peak = an.device.peak_ops[dtype];
  const ridge = peak / an.device.memory_bandwidth;
  const intensity = t.ops / t.memory_access;
  const shares = Object.entries(boundShares(ops)).sort((x, y) => y[1] - x[1])
    .map(([bound, share]) => `${pct(share)} ${bound}-bound`).join(", ");
  const moved = [["weights", t.load_weight], ["KV cache", t.load_kv + t.store_kv],
    ["activations", t.load_act + t.store_act]]
    .map(([what, bytes]) => `${pct(bytes / t.memory_access)} ${what}`).join(", ");
  const verdict = intensity < ridge
    ? "below the ridge point: the device waits on memory, and fewer bytes make it faster"
    : "above the ridge point: the device is busy computing, and fewer bytes will not help";
  const label = { prefill: "Prefill", vision: "The vision encoder" }[stage] || "A decode step";
  const items = t.bottlenecks.map((b) =>
    `<li><b>${esc(b.name)}</b> ${pct(b.share)} <span class="bound" style="color:${COLORS[b.bound]}">${esc(b.bound)}</span>: ${esc(b.advice)}</li>`).join("");
  $("#why").innerHTML = `<h2>Why it takes ${esc(secs(t.time))}</h2>
    <p>${label} spends its operator time ${esc(shares)}. It does ${esc(si(intensity))} OP per byte
    against a ridge point of ${esc(si(ridge))} OP/byte (${esc(dtype)} peak ÷
    bandwidth), ${verdict}. It moves ${esc(si(t.memory_access, "B"))}: ${esc(moved)}.</p>
    <ul>${items}</ul>`;
}

// The decoder block as a graph ------------------------------------------------------------------
const NODE = { w: 168, h: 42, gx: 12, gy: 20, lane: 44, top: 12 };

function rowsOf(ops) {
  const together = (a, b) => PARALLEL.some((g) => g.includes(a.name) && g.includes(b.name));
  const rows = [];
  for (const op of ops) {
    const row = rows[rows.length - 1];
    if (row && row[0].scope === op.scope && together(row[row.length - 1], op)) row.push(op);
    else rows.push([op]);
  }
  return rows;
}

function layout(ops) {
  const rows = rowsOf(ops);
  const widest = Math.max(...rows.map((r) => r.length));
  const width = NODE.lane + widest * (NODE.w + NODE.gx) + NODE.gx;
  let y = NODE.top;
  let frame = null;
  const placed = rows.map((row, i) => {
    const inBlock = row[0].scope === "block";
    if (inBlock && !frame) { y += 22; frame = { y0: y - 18, first: i }; }
    if (!inBlock && frame && frame.y1 == null) { frame.y1 = y - NODE.gy + 8; y += 14; }
    const span = row.length * NODE.w + (row.length - 1) * NODE.gx;
    const x0 = NODE.lane + (width - NODE.lane - span) / 2;
    const nodes = row.map((op, k) => ({ op, x: x0 + k * (NODE.w + NODE.gx), y }));
    y += NODE.h + NODE.gy;
    return nodes;
  });
  if (frame && frame.y1 == null) frame.y1 = y - NODE.gy + 8;
  return { placed, width, height: y, frame };
}

function edges(placed) {
  const lines = [];
  for (let i = 1; i < placed.length; i++) {
    for (const a of placed[i - 1]) {
      for (const b of placed[i]) {
        lines.push(`<line class="edge" x1="${a.x + NODE.w / 2}" y1="${a.y + NODE.h}"
          x2="${b.x + NODE.w / 2}" y2="${b.y}" marker-end="url(#arrow)"/>`);
      }
    }
  }
  return lines.join("");
}

function residuals(placed) {
  // Each residual add joins the input of its sub-block (the row after the previous add).
  const paths = [];
  let entry = placed.findIndex((r) => r[0].op.scope === "block");
  placed.forEach((row, i) => {
    if (row.length !== 1 || !/(^|_)add$/.test(row[0].op.name) || entry < 0) return;
    const from = placed[entry][0];
    const to = row[0];
    const x = NODE.lane - 18;
    const y0 = from.y - NODE.gy / 2;
    paths.push(`<path class="residual" d="M ${from.x + NODE.w / 2} ${y0} H ${x} V ${to.y + NODE.h / 2}
      H ${to.x}" marker-end="url(#arrow)"/>`);
    entry = i + 1 < placed.length && placed[i + 1][0].op.scope === "block" ? i + 1 : -1;
  });
  return paths.join("");
}

function nodeSVG({ op, x, y }) {
  const color = COLORS[op.bound] || "#777";
  const label = op.scope === "block" ? `${secs(op.time)} ×${op.count}` : secs(op.time);
  const bar = Math.max(2, (op.share || 0) * (NODE.w - 2));
  const selected = state.op === op.index ? " selected" : "";
  return `<g class="node${selected}" data-index="${op.index}" data-name="${esc(op.name)}"
      transform="translate(${x},${y})" tabindex="0" role="button">
    <title>${esc(opLabel(op))}: ${esc(op.bound)}-bound, ${esc(pct(op.share))} of the stage</title>
    <rect class="box" width="${NODE.w}" height="${NODE.h}" rx="5" fill="${color}22" stroke="${color}"/>
    <rect class="bar" x="1" y="${NODE.h - 6}" width="${bar}" height="5" fill="${color}"/>
    <text x="8" y="16" class="name">${esc(opLabel(op))}</text>
    <text x="8" y="31" class="time">${esc(label)} · ${esc(pct(op.share))}</text>
  </g>`;
}

function renderGraph() {
  const stage = graphStage();
  const ops = stageOps(stage);
  const { placed, width, height, frame } = layout(ops);
  const layers = ops.find((o) => o.scope === "block");
  const frameSVG = frame ? `<rect class="frame" x="${NODE.lane - 30}" y="${frame.y0}"
      width="${width - NODE.lane + 26}" height="${frame.y1 - frame.y0}" rx="8"/>
    <text class="frame-label" x="${NODE.lane - 24}" y="${frame.y0 + 13}">${stage === "vision" ? "encoder" : "decoder"} block × ${layers.count} layers</text>` : "";
  $("#graph").innerHTML = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6"
      orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>
    ${frameSVG}${edges(placed)}${residuals(placed)}${placed.flat().map(nodeSVG).join("")}</svg>`;
  const what = state.stage === "generation"
    ? "a decode step (the generation repeats it after one prefill)"
    : { prefill: "prefill", vision: "the vision encoder (before the prefill)" }[stage] || "a decode step";
  $("#graph-title").textContent = `Operators of ${what}: time per layer, share of the step`;
  $("#graph-legend").innerHTML = Object.entries(COLORS).map(([b, c]) =>
    `<span><i style="background:${c}"></i>${esc(b)}-bound</span>`).join("");
}

function renderDetails() {
  const box = $("#node-details");
  const op = state.op == null ? null : stageOps(graphStage()).find((o) => o.index === state.op);
  if (!op) {
    box.innerHTML = `<p class="muted">Click an operator in the graph or on the roofline.</p>`;
    return;
  }
  const an = last.analysis;
  const peak = an.device.peak_ops[op.compute_dtype];
  const advice = (an.totals[op.stage].bottlenecks.find((b) => b.bound === op.bound) || {}).advice;
  const rows = [
    ["stage", op.stage], ["bound", `${op.bound}-bound`], ["compute dtype", op.compute_dtype],
    [op.scope === "block" ? "time per layer" : "time", secs(op.time)],
    ["time, all layers", secs(op.total_time)], ["share of the step", pct(op.share)],
    ["OPs", si(op.ops)], ["memory access", si(op.memory_access, "B")],
    ["· weights read", si(op.load_weight, "B")], ["· activations read", si(op.load_act, "B")],
    ["· activations written", si(op.store_act, "B")], ["· KV cache read", si(op.load_kv, "B")],
    ["· KV cache written", si(op.store_kv, "B")],
    ["arithmetic intensity", `${si(op.arithmetic_intensity)} OP/B`],
    ["performance", `${si(op.performance, "OP/s")} (${pct(op.performance / peak)} of peak)`],
    ["link time", secs(op.link_time)], ["layers", String(op.count)],
    ["of the roofline", op.efficiency == null ? "–" : pct(op.efficiency)],
    ["priced by", op.priced_by],
  ];
  box.innerHTML = `<h3 id="node-name" style="color:${COLORS[op.bound]}">${esc(opLabel(op))}</h3>
    <table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>
    ${advice ? `<p class="advice">${esc(advice)}</p>` : ""}`;
}

function select(stage, index) {
  if (stage !== graphStage()) state.stage = stage;
  state.op = index;
  writeURL();
  fillForm();
  renderTotals(last.analysis);
  renderWhy(last.analysis);
  renderGraph();
  renderDetails();
  renderRoofline(last.analysis);
  renderTable();
  cueScrolls();
}

// Charts ----------------------------------------------------------------------------------------
const PLOT_CONFIG = { displaylogo: false, responsive: true };
const SVG_ICON = { width: 1000, height: 1000, path: "M100 800h800v100H100zM450 100h100v450l150-150 70 70-270 270-270-270 70-70 150 150z" };

// Every chart: one tick notation (SI prefixes: 100T, 2G, 1P, never 10¹⁵ or "B" for billions;
// plotly's "SI" stops at T, its "SI extended" goes on to P and E, as `si` does), fitted to its
// box, and downloadable as PNG (plotly's camera) or SVG, named after it.
function plot(el, traces, layout) {
  fitTitle(layout, el.clientWidth);
  placeTitle(layout);
  fitAxisTitles(layout, el.clientWidth);
  for (const [key, axis] of Object.entries(layout)) {
    if (/^[xy]axis\d*$/.test(key)) {
      layout[key] = { exponentformat: "SI extended", automargin: true, ...axis };
      // An axis drawn over another takes plotly's "sync" ticks by default, aligned to the
      // other's grid at values such as 1959 and 1567: its own round ones instead (no grid).
      if (axis.overlaying) layout[key] = { tickmode: "auto", showgrid: false, ...layout[key] };
    }
  }
  const filename = `rooflens-${el.id}`;
  return Plotly.react(el, traces, layout, {
    ...PLOT_CONFIG,
    toImageButtonOptions: { format: "png", filename, scale: 2 },
    modeBarButtonsToAdd: [{
      name: "download-svg", title: "Download as SVG", icon: SVG_ICON,
      click: (gd) => Plotly.downloadImage(gd, { format: "svg", filename }),
    }],
  });
}

// A title wider than its chart is broken at spaces into lines that fit (placeTitle makes room
// for them): plotly draws one line, which a long title ran past both edges of ("Capacity
// search: no capacity found ..." lost its colour key). About 0.55 of the font size a letter.
function fitTitle(layout, width) {
  const title = layout.title;
  if (!title || !title.text || !width || String(title.text).includes("<br>")) return;
  const size = (title.font && title.font.size) || 14;
  title.text = breakLines(title.text, Math.max(20, Math.floor((width - 60) / (size * 0.55))));
}

// `text` broken at spaces into lines of at most `perLine` letters (a longer word alone).
function breakLines(text, perLine) {
  const lines = [];
  for (const word of String(text).split(" ")) {
    const n = lines.length;
    if (n && `${lines[n - 1]} ${word}`.length <= perLine) lines[n - 1] += ` ${word}`;
    else lines.push(word);
  }
  return lines.join("<br>");
}

// An x axis' title wider than the axis is broken into lines as a chart's is: on a phone the
// two axes side by side of the latency shares (each under half the plot's width) had their
// titles run into each other. Each axis' share of the plot is its domain; plotly's axis titles
// are 14 px; the bottom margin grows to hold the lines (automargin, which plot sets).
function fitAxisTitles(layout, width) {
  const margin = layout.margin || {};
  const plotWidth = width - (margin.l ?? 80) - (margin.r ?? 80);
  for (const [key, axis] of Object.entries(layout)) {
    const title = /^xaxis\d*$/.test(key) && axis.title;
    if (!title || !title.text || !width || String(title.text).includes("<br>")) continue;
    const [from, to] = axis.domain || [0, 1];
    const size = (title.font && title.font.size) || 14;
    const perLine = Math.max(8, Math.floor(((to - from) * plotWidth) / (size * 0.55)));
    title.text = breakLines(title.text, perLine);
  }
}

// The mode bar (plotly's tool bar: the PNG and SVG downloads, zoom) shows at a chart's top
// right on hover, 24 px tall and near 300 px wide, where it covered the titles: the top margin
// keeps a band for it, and the title's lines (20 px each) below the band, above the plot.
// The title is placed by its middle: plotly centres a title of several lines on its anchor
// whichever the anchor (one anchored at its top rose into the band, at its bottom fell onto
// the plot). A phone hides the bar (style.css) and keeps no band.
const MODEBAR_BAND = 28;

function placeTitle(layout) {
  const title = layout.title;
  if (!title || !title.text || !layout.height) return;
  const lines = String(title.text).split("<br>").length;
  const top = (matchMedia("(max-width: 600px)").matches ? 0 : MODEBAR_BAND) + 6;
  const middle = top + 10 * lines;
  Object.assign(title, { yref: "container", y: 1 - middle / layout.height, yanchor: "middle" });
  const margin = layout.margin || {};
  layout.margin = { ...margin, t: Math.max(margin.t ?? 0, top + 20 * lines + 8) };
}

// A chart drawn while its page was hidden has plotly's default width: fit each shown chart to
// its box again once the page (or the settings beside it) changes; the boxes that scroll
// sideways are then wider or narrower too.
function resizeCharts() {
  requestAnimationFrame(() => {
    for (const el of document.querySelectorAll("main:not([hidden]) .js-plotly-plot")) {
      Plotly.Plots.resize(el);
    }
    cueScrolls();
  });
}

// A box that scrolls sideways (a wide table, the graph on a phone) shades each edge that more
// lies beyond (style.css .more-left, .more-right): where scroll bars stay hidden until used
// (phones, macOS, a headless browser), a table cut at its box's edge read as the whole table.
// Called once a box's content or width changes, and as it scrolls.
function cueScroll(box) {
  const hidden = box.scrollWidth - box.clientWidth;
  box.classList.toggle("more-left", hidden > 1 && box.scrollLeft > 1);
  box.classList.toggle("more-right", hidden > 1 && box.scrollLeft < hidden - 1);
}

function cueScrolls() {
  for (const box of document.querySelectorAll(".scroll")) cueScroll(box);
}
const DASHES = ["solid", "dash", "dot", "dashdot"];
const logspace = (a, b, n) => Array.from({ length: n }, (_, i) => 10 ** (a + ((b - a) * i) / (n - 1)));

function renderRoofline(an) {
  const bw = an.roofline.memory_bandwidth;
  const xs = logspace(-2, 5, 120);
  const traces = Object.entries(an.roofline.peaks).map(([dtype, peak], i) => ({
    x: xs, y: xs.map((x) => Math.min(peak, x * bw)), mode: "lines", hoverinfo: "skip",
    name: `roof ${dtype} (${si(peak, "OP/s")})`, line: { color: "#555", dash: DASHES[i % 4], width: 1.5 },
  }));
  const marked = [["prefill", "circle"], ["decode", "triangle-up-open"]];
  if (an.totals.vision) marked.unshift(["vision", "square-open"]);
  for (const [stage, symbol] of marked) {
    // An operator moving no bytes of its own (run in another kernel) has no intensity.
    const ops = stageOps(stage).filter((o) => o.ops > 0 && o.memory_access > 0);
    traces.push({
      name: `${stage} operators`, mode: "markers", x: ops.map((o) => Math.max(o.arithmetic_intensity, 1e-2)),
      y: ops.map((o) => o.performance), text: ops.map(opLabel),
      customdata: ops.map((o) => [stage, o.index]),
      hovertemplate: "%{text}<br>%{x:.3g} OP/B<br>%{y:.3s}OP/s<extra>" + stage + "</extra>",
      marker: { symbol, size: 9, color: ops.map((o) => COLORS[o.bound]), line: { width: 1.5, color: ops.map((o) => COLORS[o.bound]) } },
      // The legend shows the stage's symbol; the bound colours have their own entries.
    });
  }
  // The ridge point of each roof: the intensity at which the device stops waiting on memory.
  // Its label goes above and left of it, over the memory slope that every roof shares, where
  // no operator can be (none runs faster than its roof); below and right of it, the operators
  // on the roof hid it. Not clipped at the plot's edge: the top roof's label may reach into
  // the margin.
  const ridges = Object.entries(an.roofline.peaks).map(([dtype, peak]) => [dtype, peak, peak / bw]);
  traces.push({
    name: "ridge points", mode: "markers+text", x: ridges.map((r) => r[2]), y: ridges.map((r) => r[1]),
    text: ridges.map((r) => `${si(r[2])} OP/B`), textposition: "top left", textfont: { size: 10 },
    cliponaxis: false,
    hovertemplate: "%{customdata} ridge: %{x:.3s} OP/B<extra></extra>", customdata: ridges.map((r) => r[0]),
    marker: { symbol: "diamond", size: 9, color: "#555" },
  });
  // What the colours mean: one legend entry per bound present.
  const bounds = [...new Set(last.analysis.operators.filter((o) => o.ops > 0).map((o) => o.bound))];
  for (const bound of bounds) {
    traces.push({ name: `${bound}-bound`, mode: "markers", x: [null], y: [null], hoverinfo: "skip",
      marker: { symbol: "square", size: 10, color: COLORS[bound] || "#777" } });
  }
  const op = state.op == null ? null : stageOps(graphStage()).find((o) => o.index === state.op);
  const on = op && op.ops > 0 && op.memory_access > 0;
  traces.push({
    name: "selected", showlegend: false, mode: "markers+text", x: on ? [Math.max(op.arithmetic_intensity, 1e-2)] : [],
    y: on ? [op.performance] : [], text: on ? [op.name] : [], textposition: "top center",
    hoverinfo: "skip", marker: { symbol: "circle-open", size: 22, color: "#000", line: { width: 3 } },
  });
  const el = $("#roofline");
  plot(el, traces, {
    title: { text: "Roofline: every operator", font: { size: 14 } },
    xaxis: { type: "log", title: { text: "arithmetic intensity (OP/byte)" } },
    yaxis: { type: "log", title: { text: "attainable performance (OP/s)" } },
    legend: { orientation: "h", y: -0.25 }, margin: { l: 60, r: 10, t: 36, b: 40 }, height: 420,
  });
  if (!el.dataset.bound) {
    el.on("plotly_click", (ev) => {
      const cd = ev.points[0] && ev.points[0].customdata;
      // Operators carry [stage, index]; a ridge point its dtype, which selects nothing.
      if (Array.isArray(cd)) select(cd[0], cd[1]);
    });
    el.dataset.bound = "1";
  }
}

// An engine's share of the device (vLLM's 0.92, SGLang's static fraction) where the memory
// a setup may fill is less than the device's ("vllm's share"), else null: the device's own
// figure is in the device line, and "device capacity" had named the share.
function engineShare(an, capacity) {
  const engine = state[state.show].engine;
  return engine && capacity < an.device.memory_capacity * (1 - 1e-9) ? `${engine}'s share` : null;
}

function renderMemory(an) {
  const stages = Object.keys(an.memory);
  const parts = [["weights", "#4e79a7"], ["kv_cache", "#f28e2b"], ["activations", "#59a14f"],
    ["framework", "#bab0ac"]];
  const traces = parts.map(([key, color]) => ({
    type: "bar", name: key.replace("_", " "), x: stages, marker: { color },
    y: stages.map((s) => (an.memory[s][key] || 0) / 1e9),
  }));
  const capacity = an.memory[stages[0]].capacity / 1e9;
  const limit = engineShare(an, capacity * 1e9) ? `${engineShare(an, capacity * 1e9)} of the device`
    : "device capacity";
  const host = Math.max(...stages.map((s) => an.memory[s].host || 0));
  plot($("#memory"), traces, {
    barmode: "stack",
    title: { text: `Memory (GB)${host ? ` · ${si(host, "B")} offloaded to the host` : ""}`, font: { size: 14 } },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: capacity, y1: capacity,
      line: { color: "#c00", dash: "dash", width: 2 } }],
    annotations: [{ xref: "paper", x: 1, y: capacity, xanchor: "right", yanchor: "bottom",
      text: `${limit} ${si(capacity * 1e9, "B")}`, showarrow: false, font: { color: "#c00" } }],
    yaxis: { title: { text: "GB" }, rangemode: "tozero" },
    legend: { orientation: "h", y: -0.2 }, margin: { l: 50, r: 10, t: 36, b: 40 }, height: 420,
  });
}

// Where a curve stops and why: the first size that does not fit, and what it needs.
function curveStop(curve, label) {
  const first = curve.fits.indexOf(false);
  if (first < 0) return null;
  const needs = `needs ${si(curve.memory_total[first], "B")} of ${si(curve.capacity, "B")}`;
  if (first === 0) return `nothing fits in memory: ${label} ${curve.x[0]} ${needs}`;
  return `stops at ${label} ${curve.x[first - 1]}: ${curve.x[first]} ${needs}`;
}

function renderCurve(axis, sel, label) {
  const traces = [];
  const notes = [];
  const short = axis === "batch" ? "batch" : "prompt";
  for (const [which, curve] of Object.entries(last.curves[axis])) {
    const name = state.b ? `${which.toUpperCase()} ` : "";
    if (curve.error) { notes.push(`${name}${curve.error}`); continue; }
    const stop = curveStop(curve, short);
    if (stop) notes.push(`${name}${stop}`);
    const kept = (ys) => ys.map((v, i) => (curve.fits[i] ? v : null));
    const color = which === "a" ? "#4e79a7" : "#e15759";
    traces.push({ x: curve.x, y: kept(curve.time_per_token).map((v) => v && v * 1e3), name: `${name}ms per token`,
      mode: "lines+markers", line: { color }, marker: { size: 5 } });
    traces.push({ x: curve.x, y: kept(curve.throughput), name: `${name}tokens/s`, yaxis: "y2",
      mode: "lines+markers", line: { color, dash: "dash" }, marker: { size: 5, symbol: "square" } });
  }
  const cfg = state[state.show];
  // The prompt the analysis ran at: the model's default where the box is empty.
  const current = axis === "batch" ? cfg.batch : (cfg.prompt_len ?? last?.analysis?.inputs?.prompt_len);
  plot($(sel), traces, {
    title: { text: `Against ${label}`, font: { size: 14 } },
    xaxis: { type: "log", title: { text: label } },
    yaxis: { title: { text: "time per output token (ms)" }, rangemode: "tozero" },
    yaxis2: { title: { text: "throughput (tokens/s)" }, overlaying: "y", side: "right",
      rangemode: "tozero", showgrid: false },
    shapes: [{ type: "line", yref: "paper", x0: current, x1: current, y0: 0, y1: 1, line: { color: "#999", dash: "dot" } }],
    legend: { orientation: "h", y: -0.25 }, margin: { l: 60, r: 60, t: 36, b: 40 }, height: 380,
  });
  const note = $(`${sel}-note`);
  note.hidden = !notes.length;
  note.textContent = notes.join(" · ");
}

const UNIT_FORMAT = { s: secs, B: (v) => si(v, "B"), OP: (v) => si(v), "tokens/s": (v) => `${si(v)} tok/s` };

function renderCompare() {
  const box = $("#compare");
  box.hidden = !last.compare;
  if (!last.compare) return;
  const changes = Object.keys(state.b).filter((k) => !same(state.a[k], state.b[k]) && k !== "config")
    .map((k) => `${k}: ${encode(state.a[k]) || "—"} → ${encode(state.b[k]) || "—"}`);
  const rows = last.compare.rows.map((r) => {
    const f = typeof r.a === "boolean" ? (v) => (v ? "yes" : "NO") : UNIT_FORMAT[r.unit] || ((v) => si(v, r.unit));
    const better = r.unit === "tokens/s" ? r.ratio > 1 : r.ratio < 1;
    const cls = r.ratio == null || Math.abs(r.ratio - 1) < 1e-9 ? "" : better ? "better" : "worse";
    return `<tr><th>${esc(r.metric)}</th><td>${esc(f(r.a))}</td><td>${esc(f(r.b))}</td>
      <td class="${cls}">${esc(ratio(r.ratio))}</td></tr>`;
  }).join("");
  box.innerHTML = `<h2>A against B</h2>
    <p class="muted">A: ${esc(last.compare.a)} · B: ${esc(last.compare.b)} · B changes
    ${esc(changes.join(", ") || "nothing yet: pick B above and change it")}</p>
    <div class="scroll"><table id="compare-table"><tr><th>metric</th><th>A</th><th>B</th>
    <th>B / A</th></tr>${rows}</table></div>`;
}

function renderTable() {
  const ops = stageOps(graphStage());
  const head = ["operator", "×", "OPs", "memory", "OP/B", "OP/s", "bound", "time", "share"];
  const rows = ops.map((o) => `<tr data-index="${o.index}"${o.index === state.op ? ' class="selected"' : ""}>
    <th>${esc(opLabel(o))}</th><td>${o.count}</td><td>${si(o.ops)}</td><td>${si(o.memory_access, "B")}</td>
    <td>${si(o.arithmetic_intensity)}</td><td>${si(o.performance)}</td><td>${esc(o.bound)}</td>
    <td>${secs(o.time)}</td><td>${pct(o.share)}</td></tr>`).join("");
  $("#operator-table").innerHTML =
    `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${rows}</table>`;
}

// Exports ---------------------------------------------------------------------------------------
// The numbers as the API gave them (full precision), not as the page rounds them.
function csv(rows, columns) {
  const cell = (v) => {
    if (v == null) return "";
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 2000);
}

const exportName = (what, ext) => {
  const an = last.analysis;
  const model = an.model.id.split("/").pop();
  return `rooflens-${model}-${an.device.name}-${what}.${ext}`.replace(/[^\w.-]+/g, "_");
};

function exportAnalysis(kind) {
  if (!last) return;
  const an = last.analysis;
  if (kind === "operators") {
    const columns = Object.keys(an.operators[0] || {});
    download(exportName("operators", "csv"), csv(an.operators, columns), "text/csv");
  } else if (kind === "totals") {
    const rows = Object.entries(an.totals).map(([stage, t]) => ({ stage, ...t }));
    const columns = ["stage", ...Object.keys(rows[0]).filter((k) => k !== "stage" && k !== "bottlenecks")];
    download(exportName("totals", "csv"), csv(rows, columns), "text/csv");
  } else {
    download(exportName("analysis", "json"), JSON.stringify(an, null, 1), "application/json");
  }
}

// Copy link, and recent runs ------------------------------------------------------------------
async function copyLink() {
  const button = $("#copy-link");
  try {
    await navigator.clipboard.writeText(location.href);
    button.textContent = "link copied ✓";
  } catch (e) {
    button.textContent = "copy failed: copy the address bar";
  }
  setTimeout(() => { button.textContent = "copy link"; }, 2000);
}

const HISTORY_KEY = "rooflens.history";
const HISTORY_SIZE = 15;

function readHistory() {
  try {
    const kept = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(kept) ? kept : [];
  } catch (e) {
    return [];
  }
}

// The last views, newest first, in this browser only (localStorage): a run of the serving or
// advisor page, or an analysis shown for a while. The same view is kept once.
function remember(what) {
  const entry = { hash: location.hash, what, at: new Date().toISOString() };
  const kept = [entry, ...readHistory().filter((e) => e.hash !== entry.hash)].slice(0, HISTORY_SIZE);
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(kept));
  } catch (e) {
    return;  // storage full or refused: the history is a convenience
  }
  fillHistory();
}

function fillHistory() {
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  $("#history").innerHTML = `<option value="">recent…</option>` + readHistory().map((e) =>
    `<option value="${esc(e.hash)}">${esc(time(e.at))} · ${esc(e.what)}</option>`).join("");
}

let rememberTimer = null;
function rememberAnalysis() {
  clearTimeout(rememberTimer);
  const an = last.analysis;
  const what = `analysis: ${an.model.id} on ${an.device.name}${state.b ? " (A/B)" : ""}`;
  rememberTimer = setTimeout(() => { if (state.page === "analysis") remember(what); }, 1500);
}

function rememberRun(page) {
  const d = runs[page].data;
  remember(page === "serve" ? `serving: ${d.setup}` : `advisor: ${d.model}`);
}

// Events ----------------------------------------------------------------------------------------
function onInput(ev) {
  const el = ev.target;
  if (el.name === "stage") {
    switchStage(el.value);
    return;
  }
  const key = el.dataset.key;
  if (!key) return;
  if (el.validity && el.validity.badInput) {
    // A number box holding text that is no number ("1e", "-") reads as empty: say so, and
    // send nothing until it is one.
    const name = el.closest("label") ? el.closest("label").textContent.trim() : key;
    // A request still waiting to go (or on its way) for what was typed before is dropped:
    // its answer cleared this message while the box held no number.
    clearTimeout(timer);
    seq++;
    document.body.classList.remove("busy");
    if (last) setState("analysis", "stale");
    showError({ message: `${name}: not a number (yet)`, detail: [{ loc: ["body", key] }] });
    return;
  }
  const value = readInput(el);
  // A partly typed model name is not a request yet; Enter or leaving the field sends it, or
  // the only id its words match.
  if (key === "model" && ev.type === "input" && !known(value)) return;
  if (key === "model" && !known(value) && el.dataset.match) {
    el.value = el.dataset.match;
    delete el.dataset.match;
    onInput(ev);
    return;
  }
  const cfg = state[state.show];
  // An emptied box that cannot be empty is the default (no images is none; "images=" and
  // "tp=" were written to the URL).
  cfg[key] = orDefault(key, value);
  if (key === "model") { cfg.config = ""; cfg.config_name = ""; }
  if (key === "device" && value === "custom") $("#device-custom").open = true;
  state.op = key === "model" ? null : state.op;
  fillForm();
  changed(el.tagName === "SELECT" || el.type === "checkbox" ? 0 : 40);
}

function switchStage(stage) {
  // The selected operator stays selected under its name (its index differs between stages).
  const name = last && state.op != null
    ? (stageOps(graphStage()).find((o) => o.index === state.op) || {}).name : null;
  state.stage = stage;
  if (!last) { writeURL(); return; }
  const match = stageOps(graphStage()).find((o) => o.name === name);
  select(graphStage(), match ? match.index : null);
}

let MODEL_IDS = new Set();
let ENGINES = [];     // the shipped engine profiles (/api/engines)

// Newest first: 0.24.0 before 0.9.1 (numbers compared as numbers, then the rest as text).
function newerFirst(x, y) {
  const parts = (v) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const [a, b] = [parts(x), parts(y)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === undefined) return 1;
    if (b[i] === undefined) return -1;
    return typeof a[i] === "number" && typeof b[i] === "number" ? b[i] - a[i] : String(b[i]).localeCompare(String(a[i]));
  }
  return 0;
}

// A release field offers the releases with tables of their own for the engine chosen beside
// it, each with the devices it has them for; any other release may still be typed (the
// answer then says which one priced it).
function offerReleases(input) {
  const root = input.closest("main, aside") || document;
  const engine = (root.querySelector('[data-key="engine"]') || {}).value;
  const devices = new Map();
  for (const e of ENGINES.filter((p) => p.engine === engine)) {
    for (const release of [e.release, ...e.older_releases].filter(Boolean)) {
      devices.set(release, [...(devices.get(release) || []), e.device]);
    }
  }
  $("#engine-versions").innerHTML = [...devices.keys()].sort(newerFirst).map((r) =>
    `<option value="${esc(r)}">${esc(devices.get(r).join(", "))}</option>`).join("");
}
const known = (v) => MODEL_IDS.has(String(v).toLowerCase());
let searchTimer = null;
let searchSeq = 0;

// The catalog searched as one types (every word must appear in the id): the suggestions
// follow, and a search with one match selects it.
function searchModels(text) {
  clearTimeout(searchTimer);
  if (known(text)) return;
  searchTimer = setTimeout(async () => {
    const id = ++searchSeq;
    const res = await fetch(`/api/models?q=${encodeURIComponent(text.trim())}&limit=30`);
    const found = res.ok ? await res.json() : [];
    if (id !== searchSeq) return;
    $("#model-list").innerHTML = modelOptions(found);
    $("#model-info").textContent = text.trim() === "" ? "" : found.length === 1
      ? `one match: ${found[0].id} (Enter to use it)` : `${found.length} matches`;
    if (found.length === 1) $("#model").dataset.match = found[0].id;
    else delete $("#model").dataset.match;
  }, 120);
}

const modelOptions = (models) => models.map((m) =>
  `<option value="${esc(m.id)}">${esc(m.model_type)} · ${count(m.params)} params</option>`).join("");

async function onUpload(ev) {
  const file = ev.target.files[0];
  if (!file) return;
  let config;
  try {
    config = JSON.parse(await file.text());
  } catch (e) {
    showError({ message: `${file.name} is not valid JSON: ${e.message}` });
    return;
  }
  const name = file.name.replace(/\.json$/i, "").replace(/^config$/, "uploaded");
  const res = await fetch("/api/model", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ config, name }) });
  const data = await res.json();
  if (!res.ok) { showError(data); return; }
  const cfg = state[state.show];
  Object.assign(cfg, { config: JSON.stringify(config), config_name: name, model: "" });
  state.op = null;
  ev.target.value = "";
  fillForm();
  changed();
}

function wire() {
  const controls = $("#controls");
  controls.addEventListener("input", onInput);
  controls.addEventListener("change", onInput);
  $("#upload").addEventListener("change", onUpload);
  $("#drop-upload").addEventListener("click", () => {
    Object.assign(state[state.show], { config: "", config_name: "", model: DEFAULTS.model });
    fillForm(); changed();
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => { state.show = tab.dataset.show; fillForm(); changed(); });
  }
  $("#add-b").addEventListener("click", () => {
    state.b = clone(state.a); state.show = "b"; fillForm(); changed();
  });
  $("#drop-b").addEventListener("click", () => {
    state.b = null; state.show = "a"; fillForm(); changed();
  });
  $("#graph").addEventListener("click", (ev) => {
    const node = ev.target.closest(".node");
    if (node) select(graphStage(), Number(node.dataset.index));
  });
  $("#graph").addEventListener("keydown", (ev) => {
    const node = ev.target.closest(".node");
    if (node && (ev.key === "Enter" || ev.key === " ")) select(graphStage(), Number(node.dataset.index));
  });
  $("#copy-link").addEventListener("click", copyLink);
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => exportAnalysis(button.dataset.export));
  }
  $("#model").addEventListener("input", (ev) => searchModels(ev.target.value));
  document.addEventListener("focusin", (ev) => {
    if (ev.target.dataset && ev.target.dataset.key === "engine_version") offerReleases(ev.target);
  });
  // Another engine chosen: its releases, whether or not the release box is visited again.
  document.addEventListener("change", (ev) => {
    if (!ev.target.dataset || ev.target.dataset.key !== "engine") return;
    const root = ev.target.closest("main, aside") || document;
    const release = root.querySelector('[data-key="engine_version"]');
    if (release) offerReleases(release);
  });
  $("#history").addEventListener("change", (ev) => {
    if (ev.target.value) location.hash = ev.target.value;
    ev.target.value = "";
  });
  $("#retry").addEventListener("click", () => { if (retryAction) retryAction(); });
  $("#toggle-controls").addEventListener("click", () => {
    const open = document.body.classList.toggle("controls-open");
    $("#toggle-controls").setAttribute("aria-expanded", String(open));
    resizeCharts();
  });
  window.addEventListener("resize", resizeCharts);
  // Neither event bubbles: caught on their way down. A box opened (the operator table) has
  // its width only then.
  document.addEventListener("scroll", (ev) => {
    if (ev.target.classList && ev.target.classList.contains("scroll")) cueScroll(ev.target);
  }, true);
  document.addEventListener("toggle", cueScrolls, true);
  // Back, Forward, a pasted link or a history entry: the view follows the URL.
  // Every box reads the new URL, the one focused too (it kept the old value, which the next
  // change wrote back over the link's).
  const follow = () => {
    if (location.hash === shownHash) return;
    readURL(); fillForm(true); writeURL(); refresh(); markStale();
  };
  window.addEventListener("hashchange", follow);
  window.addEventListener("popstate", follow);

}

async function start() {
  const get = (url) => fetch(url).then((r) => r.json());
  const [openapi, models, devices, engines] = await Promise.all([
    get("/openapi.json"), get("/api/models"), get("/api/devices"), get("/api/engines"),
  ]);
  ENGINES = engines;
  FIELDS = fieldsFrom(openapi);
  DEFAULTS = { ...BASIC };
  for (const f of FIELDS) DEFAULTS[f.key] = f.default;
  MODEL_IDS = new Set(models.map((m) => m.id.toLowerCase()));
  $("#model-list").innerHTML = modelOptions(models);
  $("#device").innerHTML = devices.map((d) =>
    `<option value="${esc(d.name)}">${esc(d.display_name)}</option>`).join("") +
    `<option value="custom">custom device…</option>`;
  buildForm();
  buildPages(openapi, devices);
  readURL();
  fillForm();
  wire();
  wirePages();
  wireViews();
  writeURL();
  refresh();
  markStale();
  fillHistory();
}
