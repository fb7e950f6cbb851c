// The serving and advisor pages. Their forms are built from the API's schema like the options,
// their settings live in the URL (serve.KEY, advise.KEY), and they run on demand: a simulation
// or a search takes a second or more, so it is not redone on every keystroke. Uses app.js.
"use strict";

const PAGES = ["analysis", "serve", "advise"];
const RUN_PAGES = ["serve", "advise"];
const PAGE_SCHEMAS = {
  serve: [["workload", "WorkloadIn"], ["", "SimulateRequest"], ["scheduler", "SchedulerIn"],
    ["cluster", "ClusterIn"], ["slo", "SLOIn"]],
  advise: [["target", "TargetIn"], ["slo", "AdviseSLOIn"], ["", "AdviseRequest"]],
};
// The fields of a request's own (section "") the form shows: AdviseRequest's but its
// sections; SimulateRequest's scheduler preset alone (its sections and the capacity search,
// a button of its own, are the page's).
const TOP_FIELDS = {
  serve: (key) => key === "preset",
  advise: (key) => !["model", "target", "slo"].includes(key),
};
const ENDPOINT = { serve: "/api/simulate", advise: "/api/advise" };
const NOTES = {
  serve: "The simulation prices every iteration with the model, device and options below " +
    "(of the configuration shown); the sizes come from the workload.",
  advise: "The advisor takes only the model: it searches devices, tensor parallelism, " +
    "weight precisions, KV-cache widths and expert layouts itself; a serving engine, where " +
    "chosen, prices every setup with its fitted profiles.",
};
const PAGE_FIELDS = { serve: [], advise: [] };
const PAGE_DEFAULTS = { serve: {}, advise: {} };
const runs = { serve: null, advise: null };  // the last answer of each page, with its request
// The status line of each page's run cancelled since its last run, kept until the next one:
// a change of settings after it wrote "settings changed" over it.
const cancelled = { serve: "", advise: "" };
const pageSeq = { serve: 0, advise: 0 };
const runCount = { serve: 0, advise: 0 };

const pageField = (page, key) => PAGE_FIELDS[page].find((f) => f.key === key);

// The scheduler's fields. The serving page keeps one in its state only once the user sets it
// (undefined: not set), and sends only those: an engine's preset sets the rest, as
// `rooflens simulate --engine` does. The form shows what a run would use, which
// POST /api/scheduler says for the model, device and options shown (schedulerView): a field
// not set shows the preset's value; one set shows its own, with the preset's beside it.
const SCHEDULER_KEYS = new Set();
const isScheduler = (page, key) => page === "serve" && SCHEDULER_KEYS.has(key);
// The preset of each context (model, device, options, workload and cluster) asked about:
// /api/scheduler's answer with no field set, asked for apart from the fields set, so that a
// field the server refuses leaves the preset shown (it had fallen back to the declared
// defaults, every field then wrong).
const presetCache = new Map();
const PRESETS_KEPT = 32;
let schedulerView = null;  // {context, key, data}: the last answer of /api/scheduler taken
// {key, field, message}: the last refusal of the settings asked about; `field` the serving
// form's field it names (a scheduler, workload or cluster field), else null.
let schedulerRefused = null;
// What the scheduler's fields last showed from an answer ({preset, used}): shown again while
// the settings now shown are not answered yet, or are refused (a workload or cluster the run
// would refuse), in place of the declared defaults, which an engine's preset is not.
let schedulerShown = null;
// The sections of a simulation request whose refused field the serving form shows beside it.
const REFUSED_SECTIONS = ["scheduler", "workload", "cluster"];
let schedulerSeq = 0;
let schedulerAsked = null;  // the key of the last request sent

// Forms ------------------------------------------------------------------------------------------
function buildPages(openapi, devices) {
  const schemas = openapi.components.schemas;
  for (const [page, parts] of Object.entries(PAGE_SCHEMAS)) {
    for (const [section, name] of parts) {
      for (const [key, prop] of Object.entries(schemas[name].properties)) {
        if (section === "" && !TOP_FIELDS[page](key)) continue;
        const f = field(key, section, prop, schemas);
        // Prices travel as "name=USD, …" text in the form and the URL.
        if (key === "hourly_prices") Object.assign(f, { kind: "text", default: null, nullable: true });
        if (key === "devices") Object.assign(f, { choices: devices.map((d) => d.name), default: [] });
        PAGE_FIELDS[page].push(f);
        // A scheduler field is in the state only once set: none is by default.
        if (page === "serve" && section === "scheduler") SCHEDULER_KEYS.add(key);
        PAGE_DEFAULTS[page][key] = isScheduler(page, key) ? undefined : f.default;
      }
    }
    const groups = {};
    for (const f of PAGE_FIELDS[page]) if (f.key !== "devices") (groups[f.group] ||= []).push(f);
    // The scheduler's fields show what a run would use: with an engine, its preset where not
    // set, which a note atop the first of them says (fillScheduler); each shows the preset's
    // value beside it where it differs.
    let noted = page !== "serve";
    const presetNote = (fs) => {
      if (noted || !fs.some((f) => f.section === "scheduler")) return "";
      noted = true;
      return `<p id="serve-preset-note" class="muted" hidden></p>
        <button type="button" id="serve-scheduler-reset" hidden>back to the preset</button>`;
    };
    // The serving form's fields say, beneath them, why /api/scheduler refused them.
    const control = (f) => inputFor(f, `${page}-`) + (isScheduler(page, f.key)
      ? `<div class="preset-hint" id="${page}-hint-${f.key}" hidden></div>` : "")
      + (page === "serve"
        ? `<div class="field-error" id="serve-error-${f.key}" role="alert" hidden></div>` : "");
    $(`#${page}-form`).innerHTML = Object.entries(groups).map(([group, fs]) =>
      `<fieldset><legend>${esc(group)}</legend>${presetNote(fs)}${fs.map(control).join("")}</fieldset>`).join("");
  }
  const price = (d) => (d.hourly_price ? ` · $${p3(d.hourly_price)}/h` : " · no price");
  $("#advise-device-list").innerHTML = devices.map((d) => `<label class="check"><input type="checkbox"
    data-key="devices" value="${esc(d.name)}"> ${esc(d.display_name)}${esc(price(d))}</label>`).join("");
}

function fillPages() {
  const wasHidden = $(`#page-${state.page}`).hidden;
  for (const page of PAGES) $(`#page-${page}`).hidden = state.page !== page;
  if (wasHidden) resizeCharts();
  for (const tab of document.querySelectorAll(".page-tab")) {
    tab.classList.toggle("active", tab.dataset.page === state.page);
  }
  $("#sizes-fieldset").hidden = state.page !== "analysis";
  $("#device-fieldset").hidden = state.page === "advise";
  $("#option-groups").hidden = state.page === "advise";
  $("#page-note").hidden = state.page === "analysis";
  $("#page-note").textContent = NOTES[state.page] || "";
  fillHeadline();
  for (const page of RUN_PAGES) {
    for (const el of document.querySelectorAll(`#page-${page} [data-key]`)) {
      if (isScheduler(page, el.dataset.key)) continue;  // fillScheduler
      const value = state[page][el.dataset.key];
      if (el.type === "checkbox" && pageField(page, el.dataset.key).kind === "multi") {
        el.checked = multiChecked(el, value, pageField(page, el.dataset.key));
      } else if (el.type === "checkbox") {
        el.checked = Boolean(value);
      } else {
        el.value = value == null ? "" : value;
      }
    }
  }
  fillScheduler();
  refreshScheduler();
  fitControls();
}

// The scheduler a run would use -----------------------------------------------------------------
// An empty (None) setting named as an empty box's placeholder names it, with what it then
// runs at as its declared help says ("empty: the token budget"): a bare dash said nothing.
function emptyValue(f) {
  const meaning = f && /empty: ([^.;]+)/.exec(f.help || "");
  return meaning ? `none (${meaning[1].trim()})` : "none";
}

// A value of the scheduler's field `key` as the hint beneath it and the card of a run say it.
const shownValue = (value, key) => (value == null ? emptyValue(pageField("serve", key))
  : value === true ? "on" : value === false ? "off" : String(value));

// The context of a simulation request: what its preset depends on (the model, device and
// options; the workload and cluster size SGLang's request and state pools).
const contextOf = ({ model, device, options, workload, cluster, preset }) =>
  JSON.stringify({ model, device, options, workload, cluster, preset });

// What the scheduler request is about: the settings shown (the preset's context), and the
// fields set.
function schedulerAsk() {
  const body = bodyOf("serve");
  const { model, device, options, workload, cluster, preset } = body;
  const scheduler = body.scheduler || {};
  const context = contextOf(body);
  return { context, key: JSON.stringify({ context, scheduler }),
    body: { model, device, options, workload, cluster, preset, scheduler } };
}

const askOrNull = () => {
  try {
    return schedulerAsk();
  } catch (e) {
    return null;  // an uploaded config that is no JSON: runPage says so
  }
};

// The value a run would give a field were it not set, where the page knows it (else
// undefined): the preset's with no other field set; with others set, the answer's for them
// while this one is not set (the engine may have read them into it: a max batch given turns
// SGLang's request pool off).
function followed(key) {
  const ask = askOrNull();
  const preset = ask && presetCache.get(ask.context);
  if (!preset) return undefined;
  const others = [...SCHEDULER_KEYS].some((k) => k !== key && state.serve[k] !== undefined);
  if (!others) return preset.preset[key];
  const view = schedulerView;
  if (state.serve[key] === undefined && view && view.key === ask.key) return view.data.scheduler[key];
  return undefined;
}

// Each scheduler field shows its value where set, else what the run would use (the answer of
// /api/scheduler for these settings, the preset's until it comes, what the fields last showed
// until that comes or where these settings are refused, the declared default before any
// answer), and the preset's value beneath it where they differ. A box holding text that is
// no number keeps it (runPage refuses it); `force`: cleared too.
function fillScheduler(force = false) {
  const ask = askOrNull();
  const refused = schedulerRefused && ask && schedulerRefused.key === ask.key ? schedulerRefused : null;
  const answered = ask && presetCache.get(ask.context);
  let presetData = answered || null;
  let current = schedulerView && ask && schedulerView.key === ask.key ? schedulerView.data : null;
  if (!presetData && schedulerShown) {
    // Settings not answered yet, or refused: the fields keep what they showed.
    presetData = schedulerShown.preset;
    if (refused) current = schedulerShown.used;
  }
  const engine = presetData ? presetData.engine : null;
  const word = engine ? `${engine}'s preset` : "default";
  const note = $("#serve-preset-note");
  if (note) {
    note.hidden = !engine;
    note.textContent = engine ? `With ${engine}, each field shows what a run uses: ${engine}'s ` +
      "preset for this model and device where not changed; a field changed is sent, and its " +
      "preset value shows beside it." : "";
  }
  const set = [...SCHEDULER_KEYS].filter((key) => state.serve[key] !== undefined);
  const reset = $("#serve-scheduler-reset");
  if (reset) {
    reset.hidden = set.length === 0;
    reset.textContent = engine ? `back to ${engine}'s preset` : "back to the defaults";
  }
  for (const key of SCHEDULER_KEYS) {
    const f = pageField("serve", key);
    const chosen = state.serve[key] !== undefined;
    // Until the answer for the fields set now comes (or where they are refused), the
    // preset's: the last answer was for other fields, which the engine may have read into
    // this one.
    const used = current ? current.scheduler[key] : presetData ? presetData.preset[key] : f.default;
    const value = chosen ? state.serve[key] : used;
    for (const el of document.querySelectorAll(`#page-serve [data-key="${key}"]`)) {
      el.classList.toggle("chosen", chosen);
      if (el.validity && el.validity.badInput && !force) continue;  // kept: runPage refuses it
      if (el.type === "checkbox") el.checked = Boolean(value);
      else if (force || el !== document.activeElement) el.value = value == null ? "" : value;
    }
    const hint = $(`#serve-hint-${key}`);
    const preset = presetData ? presetData.preset[key] : f.default;
    const differs = !same(value, preset);
    hint.hidden = !differs;
    hint.textContent = differs ? `${word}: ${shownValue(preset, key)}` : "";
  }
  // The field the server refused is marked (as an invalid one, a mark of its own that a
  // cleared error leaves) and says why beneath it, until the server takes it: as soon as it
  // is asked, not once the simulation runs.
  for (const f of PAGE_FIELDS.serve) {
    const bad = Boolean(refused && refused.field === f.key);
    for (const el of document.querySelectorAll(`#page-serve [data-key="${f.key}"]`)) {
      el.classList.toggle("refused", bad);
    }
    const line = $(`#serve-error-${f.key}`);
    if (line) {
      line.hidden = !bad;
      line.textContent = bad ? refused.message : "";
    }
  }
  if (answered && (current || set.length === 0)) schedulerShown = { preset: presetData, used: current };
  // Which settings the server's answer shown was for (tests wait on it): its preset and its
  // answer to the fields set, a refusal included.
  $("#serve-form").dataset.scheduler = (answered && current) || refused ? ask.key : "";
  $("#serve-form").dataset.schedulerRefused = refused ? refused.message : "";
}

async function askScheduler(body) {
  try {
    const res = await fetch("/api/scheduler", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    return { ok: res.ok, data: await res.json() };
  } catch (e) {
    return null;  // no answer: the fields keep what they show
  }
}

function keepPreset(context, data) {
  presetCache.delete(context);
  presetCache.set(context, data);
  while (presetCache.size > PRESETS_KEPT) presetCache.delete(presetCache.keys().next().value);
}

// Ask the server what scheduler the settings shown would run, once per change of them: the
// preset of their context (once), and the fields set in its place.
async function refreshScheduler() {
  if (state.page !== "serve") return;
  const ask = askOrNull();
  if (!ask || ask.key === schedulerAsked) return;
  schedulerAsked = ask.key;
  const id = ++schedulerSeq;
  const fieldsSet = Object.keys(ask.body.scheduler).length > 0;
  const [preset, used] = await Promise.all([
    fieldsSet && !presetCache.has(ask.context)
      ? askScheduler({ ...ask.body, scheduler: {} }) : null,
    askScheduler(ask.body),
  ]);
  if (preset && preset.ok) keepPreset(ask.context, preset.data);
  if (!fieldsSet && used && used.ok) keepPreset(ask.context, used.data);
  if (id !== schedulerSeq) return;
  if (used && used.ok) {
    schedulerView = { context: ask.context, key: ask.key, data: used.data };
    schedulerRefused = null;
  } else if (used) {
    // A field the simulation would refuse too (a scheduler's, a workload's or a cluster's):
    // marked with the server's line beneath it, the last preset answered still shown.
    const loc = (used.data.detail && used.data.detail[0] && used.data.detail[0].loc) || [];
    const named = REFUSED_SECTIONS.includes(loc[1]) && typeof loc[2] === "string"
      && pageField("serve", loc[2]);
    schedulerRefused = { key: ask.key, field: named ? loc[2] : null,
      message: used.data.message || "" };
    if (!schedulerShown && ["workload", "cluster"].includes(loc[1])) {
      // Nothing answered before (a link with a workload the run refuses): the preset as the
      // default workload and cluster size it, until the field is mended.
      const sized = await askScheduler({ ...ask.body, workload: undefined, cluster: undefined });
      if (id !== schedulerSeq) return;
      if (sized && sized.ok) schedulerShown = { preset: sized.data, used: sized.data };
    }
  }
  fillScheduler();
}

// URL --------------------------------------------------------------------------------------------
function writePages(params) {
  if (state.page !== "analysis") params.set("page", state.page);
  for (const page of RUN_PAGES) {
    for (const [key, v] of Object.entries(state[page] || {})) {
      if (!same(v, PAGE_DEFAULTS[page][key])) params.set(`${page}.${key}`, encode(v));
    }
  }
}

function readPages(params) {
  state.page = PAGES.includes(params.get("page")) ? params.get("page") : "analysis";
  for (const page of RUN_PAGES) {
    state[page] = clone(PAGE_DEFAULTS[page]);
    for (const [name, text] of params) {
      const key = name.startsWith(`${page}.`) ? name.slice(page.length + 1) : null;
      const f = key && pageField(page, key);
      if (!f) continue;
      const value = decode(key, text, f);
      if (isScheduler(page, key) && value === null && !f.nullable) continue;  // empty: not set
      // Text that is no number is sent as written, which the API names (NaN went as null,
      // "max_batch=None is invalid").
      state[page][key] = typeof value === "number" && Number.isNaN(value) ? text : value;
    }
  }
}

// Requests ---------------------------------------------------------------------------------------
function sections(page) {
  const body = {};
  for (const f of PAGE_FIELDS[page]) {
    let v = state[page][f.key];
    if (f.key === "hourly_prices") v = parsePeaks(v || "");
    if (f.key === "devices") v = v && v.length ? v : null;
    // A scheduler field not set is not sent: an engine's preset then sets it, as the CLI's
    // does (the API takes every field sent as chosen).
    if (isScheduler(page, f.key) && v === undefined) continue;
    if (f.section) (body[f.section] ||= {})[f.key] = v;
    else body[f.key] = v;
  }
  return body;
}

function bodyOf(page, capacity = false) {
  const shown = scenario(state[state.show]);
  if (page === "advise") return { model: shown.model, ...sections("advise") };
  const { model, device, options } = shown;
  const serve = sections("serve");
  // A closed loop has no arrivals: the API refuses a rate, arrivals or cv beside clients.
  if (serve.workload.concurrency != null) {
    for (const key of ["rate", "arrivals", "cv"]) delete serve.workload[key];
  }
  return { model, device, options, ...serve, capacity };
}

function requestKey(page) {
  try {
    return JSON.stringify(bodyOf(page));
  } catch (e) {
    return null;
  }
}

// What the form offers follows what a run can use: a closed loop's clients send on answers,
// so the arrival rate, arrivals and cv (which the request leaves out) and the capacity search
// (which raises the rate) are switched off and say why; the downloads wait for a run.
function fitControls() {
  const looped = state.serve.concurrency != null;
  const why = looped ? "a closed loop of clients has no arrival rate (empty the concurrency)" : "";
  for (const key of ["rate", "arrivals", "cv"]) {
    const el = $(`#serve-${key}`);
    if (el) { el.disabled = looped; el.title = why || pageField("serve", key).help; }
  }
  $("#run-capacity").disabled = looped;
  $("#run-capacity").title = why;
  for (const button of document.querySelectorAll("[data-run-export]")) {
    button.disabled = !runs[button.dataset.runExport.split(":")[0]];
  }
}

function markStale() {
  fitControls();
  refreshScheduler();
  for (const page of RUN_PAGES) {
    if (jobs[page]) continue;  // running: the answer will be to the settings sent
    const stale = runs[page] != null && requestKey(page) !== runs[page].key;
    if (stale) {
      setState(page, "stale");
      $(`#${page}-status`).textContent = [cancelled[page], "settings changed: run again to update"]
        .filter(Boolean).join(" · ");
    } else if (runs[page] != null && $(`#page-${page}`).dataset.state === "stale") {
      setState(page, "ok");
      $(`#${page}-status`).textContent = cancelled[page];
    }
  }
}

function showPageError(page, data, retry) {
  const loc = (data.detail && data.detail[0] && data.detail[0].loc) || [];
  if (["model", "device", "options"].includes(loc[1])) { showError(data, retry); return; }
  showError({ message: data.message || "error" }, retry);
  const key = [...loc].reverse().find((p) => typeof p === "string" && pageField(page, p));
  if (key) {
    for (const el of document.querySelectorAll(`#page-${page} [data-key="${key}"]`)) el.classList.add("invalid");
  }
}

const JOB_ENDPOINT = { serve: "/api/jobs/simulate", advise: "/api/jobs/advise" };
const jobs = { serve: null, advise: null };  // the id of each page's running job
const POLL_MS = 250;
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function showProgress(page, job) {
  const bar = $(`#${page}-progress`);
  bar.hidden = !job || job.total === 0;
  if (job && job.total) bar.value = job.done / job.total;
  if (job) {
    const count = job.total ? ` ${job.done} of ${job.total}` : "";
    $(`#${page}-status`).textContent = `${job.phase || "starting"}…${count} · ${secs(job.elapsed)}`;
  }
}

function finishRun(page, id) {
  if (id !== pageSeq[page]) return false;
  jobs[page] = null;
  for (const b of document.querySelectorAll(`#page-${page} .actions button.run-button`)) b.disabled = false;
  $(`#cancel-${page}`).hidden = true;
  $(`#${page}-progress`).hidden = true;
  return true;
}

// A run is a background job: started, then polled for its progress until it is done, failed
// or cancelled. The results on the page stay (marked running) until the new ones arrive.
async function runPage(page, capacity = false) {
  // A number box holding text that is no number reads as empty: nothing is sent for it.
  const bad = [...document.querySelectorAll(`#page-${page} input`)].find(
    (el) => el.validity && el.validity.badInput);
  if (bad) {
    // Said in the banner too, in place of an earlier error it had kept showing.
    const message = `${pageField(page, bad.dataset.key).title}: not a number`;
    showError({ message });
    bad.classList.add("invalid");
    $(`#${page}-status`).textContent = message;
    return;
  }
  let body;
  try {
    body = bodyOf(page, capacity);
  } catch (e) {
    showError({ message: `the uploaded config in the URL is not valid JSON: ${e.message}` });
    return;
  }
  if (jobs[page]) cancelRun(page);
  cancelled[page] = "";
  const id = ++pageSeq[page];
  const status = $(`#${page}-status`);
  const retry = () => runPage(page, capacity);
  for (const b of document.querySelectorAll(`#page-${page} .actions button.run-button`)) b.disabled = true;
  $(`#cancel-${page}`).hidden = false;
  status.textContent = "starting…";
  setState(page, "running");
  for (const el of document.querySelectorAll(`#page-${page} .invalid`)) el.classList.remove("invalid");
  let res, job;
  try {
    res = await fetch(JOB_ENDPOINT[page], {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    job = await res.json();
    if (res.ok) {
      jobs[page] = job.id;
      while (!["done", "failed", "cancelled"].includes(job.status)) {
        if (id !== pageSeq[page]) return;
        showProgress(page, job);
        await sleep(POLL_MS);
        res = await fetch(`/api/jobs/${job.id}`);
        job = await res.json();
        if (!res.ok) break;
      }
    }
  } catch (e) {
    if (finishRun(page, id)) {
      status.textContent = "failed: no answer from the server";
      showError({ message: `no answer from the server: ${e.message}` }, retry);
      setState(page, "failed");
    }
    return;
  }
  if (!finishRun(page, id)) return;
  if (!res.ok || job.status === "failed") {
    const error = res.ok ? job.error : job;
    // Beside the button the user pressed (the banner above may be out of view).
    status.textContent = `failed: ${error.message || "see the message above"}`;
    showPageError(page, error, retry);
    setState(page, "failed");
    if (page === "serve") showNoFit(error.message || "");
    return;
  }
  if (job.status === "cancelled") {
    cancelled[page] = `cancelled after ${secs(job.elapsed)} (${job.phase}: ${job.done} of ${job.total})`;
    status.textContent = cancelled[page];
    setState(page, runs[page] ? "ok" : "idle");
    markStale();
    document.body.dataset[`${page}Cancelled`] = job.id;
    return;
  }
  clearError();
  runs[page] = { key: JSON.stringify({ ...body, ...(page === "serve" ? { capacity: false } : {}) }), data: job.result };
  // The engine whose scheduler preset the run's settings took, as /api/scheduler said it.
  if (page === "serve") runs.serve.preset = (presetCache.get(contextOf(body)) || {}).engine || null;
  status.textContent = `answered in ${secs(job.elapsed)}`;
  setState(page, "ok");
  if (page === "serve") renderServe(job.result); else renderAdvise(job.result);
  fitControls();
  document.body.dataset[page === "serve" ? "served" : "advised"] = String(++runCount[page]);
  rememberRun(page);
}

// The last answer of a page as the API gave it: JSON, and the advisor's picks as CSV.
function exportRun(page, format) {
  const run = runs[page];
  if (!run) return;
  const name = `rooflens-${page === "serve" ? "simulation" : "advice"}`;
  if (format === "csv") {
    const columns = Object.keys(run.data.picks[0] || {});
    download(`${name}-picks.csv`, csv(run.data.picks, columns), "text/csv");
  } else {
    download(`${name}.json`, JSON.stringify(run.data, null, 1), "application/json");
  }
}

function cancelRun(page) {
  const job = jobs[page];
  if (!job) return;
  $(`#${page}-status`).textContent = "cancelling…";
  fetch(`/api/jobs/${job}`, { method: "DELETE" }).catch(() => {});
}

// A model that leaves no room for a KV cache cannot serve: its figures give way to why.
function showNoFit(message) {
  const why = /room for a KV cache: ([^(]*)/.exec(message);
  if (!why) return;
  $("#serve-cards").innerHTML = `<div class="card nofit" id="serve-nofit"><h3>Does not fit</h3>
    <p>${esc(why[1].trim())}: no room for a KV cache, so no request can be served.</p>
    <p class="muted">Quantize the weights, add tensor parallelism or pick a larger device.</p></div>`;
}

// The serving page ---------------------------------------------------------------------------------
const ms = (v) => (v == null ? null : v * 1e3);

function renderServe(d) {
  const s = d.summary;
  const slo = d.slo;
  const latency = (metric, title, prefix) => card(title, [
    ["p50", secs(s[`${metric}_p50`]), `serve-${prefix}-p50`],
    ["p90", secs(s[`${metric}_p90`])],
    ["p99", secs(s[`${metric}_p99`]), `serve-${prefix}-p99`],
    ["mean", secs(s[`${metric}_mean`])],
  ]);
  const cards = [
    card("Throughput", [
      ["requests/s", p3(s.request_throughput), "serve-rps"],
      ["output tokens/s", si(s.output_token_throughput), "serve-output-tps"],
      ["all tokens/s", si(s.token_throughput)],
      ["first arrival to last answer", secs(s.duration)],
    ]),
    latency("ttft", "Time to first token", "ttft"),
    latency("tpot", "Time per output token", "tpot"),
    card("End to end", [
      ["p50", secs(s.e2e_p50)], ["p99", secs(s.e2e_p99), "serve-e2e-p99"],
      ["queueing p50", secs(s.queueing_p50)], ["queueing p99", secs(s.queueing_p99)],
    ]),
    card(`SLO at p${p3(slo.percentile)}: TTFT ≤ ${secs(slo.ttft)}, TPOT ≤ ${secs(slo.tpot)}`, [
      ["met", s.within_slo ? "yes" : "NO", "serve-within-slo"],
      ["requests within both", pct(s.slo_attainment)],
      ["goodput", `${p3(s.goodput)} req/s`, "serve-goodput"],
    ]),
    card("Engines", [
      ["replicas", String(d.replicas)], ["mean batch", p3(s.mean_batch), "serve-mean-batch"],
      ["peak KV-cache use", pct(s.peak_kv_share)],
      ["KV cache per device", si(d.kv_capacity_bytes, "B"), "serve-kv-bytes"],
      ["longest requests it holds", String(d.kv_room_requests), "serve-kv-room"],
      ["memory at the peak", `${si(d.peak_memory_bytes, "B")} of ${si(d.usable_memory_bytes, "B")}`,
        "serve-peak-memory"],
      ["preemptions", String(s.preemptions)],
      ["priced by", d.estimate, "serve-estimate"],
      ...(d.fallbacks || []).map((line) => ["fallback", line]),
      ...(d.notes || []).map((line) => ["note", line]),
      ...(d.validation ? [["checked against", d.validation, "serve-validation"]] : []),
      ["kernels", d.kernels, "serve-kernels"],
    ]),
    schedulerCard(d.scheduler),
  ];
  if (d.capacity) {
    cards.push(card("Capacity", [
      ["highest rate within the SLO", d.capacity.rate == null ? "none found"
        : `${p3(d.capacity.rate)} req/s`, "serve-capacity-rate"],
      ...(d.capacity.warning
        ? [[d.capacity.rate == null ? "why" : "caveat", d.capacity.warning]] : []),
      ["rates tried", String(d.capacity.probes.length)],
      ["requests per probe", String(d.capacity.requests)],
    ]));
  }
  $("#serve-cards").innerHTML = cards.join("");
  renderTimeline(d);
  renderLatencyCDF(d);
  renderCapacity(d);
}

// Shown always, whatever the run used; the others where the run set them or its value is not
// the default.
const SCHEDULER_SHOWN = ["policy", "max_batch", "max_tokens", "chunk_size", "prefix_sharing", "overlap"];

// The scheduler the run used, from the answer: an engine's preset where one applied, with the
// fields the run set in its place.
function schedulerCard(used) {
  if (!used) return "";
  // The request that ran, not the form since changed: its engine, and the fields it set
  // (each shown, an engine's true switch turned off too).
  // The engine whose preset applied (none for an engine without one: transformers).
  const ran = runs.serve ? JSON.parse(runs.serve.key) : {};
  const engine = runs.serve ? runs.serve.preset : null;
  const set = ran.scheduler || {};
  const declared = (key) => (pageField("serve", key) || {}).default;
  const rows = Object.entries(used).filter(([key, value]) => SCHEDULER_SHOWN.includes(key)
    || key in set || !same(value, declared(key)))
    .map(([key, value]) => [(pageField("serve", key) || { title: key }).title, shownValue(value, key),
      `serve-scheduler-${key}`]);
  return card(engine ? `Scheduler used (${engine}'s preset where not set)` : "Scheduler used", rows);
}

function renderTimeline(d) {
  const t = d.timeline;
  plot($("#serve-timeline"), [
    { x: t.time, y: t.running, name: "running", mode: "lines", line: { color: "#4e79a7", shape: "hv" } },
    { x: t.time, y: t.waiting, name: "waiting", mode: "lines", line: { color: "#e15759", shape: "hv" } },
    { x: t.time, y: t.kv_share.map((v) => v * 100), name: "KV cache used (%)", yaxis: "y2",
      mode: "lines", line: { color: "#59a14f", dash: "dot", shape: "hv" } },
  ], {
    title: { text: `${esc(d.setup)}: the engines over time`, font: { size: 14 } },
    xaxis: { title: { text: "time (s)" } },
    yaxis: { title: { text: "requests" }, rangemode: "tozero" },
    yaxis2: { title: { text: "KV cache used (%)" }, overlaying: "y", side: "right", range: [0, 105],
      showgrid: false },
    legend: { orientation: "h", y: -0.25 }, margin: { l: 50, r: 50, t: 36, b: 40 }, height: 380,
  });
}

// The x range of a latency axis: the data's, with the objective when it is near; an objective
// far beyond the data is named at the edge instead of squeezing the curve into a corner.
function latencyRange(values, objective) {
  const top = Math.max(...values.filter((v) => v != null), 0) || objective;
  const shown = objective <= top * 1.5;
  return { range: [0, (shown ? Math.max(top, objective) : top) * 1.05], shown };
}

function renderLatencyCDF(d) {
  const share = (dist) => dist.share.map((v) => v * 100);
  const ttft = d.latencies.ttft;
  const tpot = d.latencies.tpot;
  const tpotMs = tpot.seconds.map(ms);
  const rx = latencyRange(ttft.seconds, d.slo.ttft);
  const rx2 = latencyRange(tpotMs, d.slo.tpot * 1e3);
  const line = (x, axis) => ({ type: "line", xref: axis, yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
    line: { color: "#c00", dash: "dash" } });
  const far = (text, axis) => ({ xref: `${axis} domain`, yref: "paper", x: 1, y: 0.02, xanchor: "right",
    text, showarrow: false, font: { color: "#c00", size: 11 } });
  const shapes = [];
  const annotations = [];
  if (rx.shown) shapes.push(line(d.slo.ttft, "x")); else annotations.push(far(`objective ${secs(d.slo.ttft)} →`, "x"));
  if (rx2.shown) shapes.push(line(d.slo.tpot * 1e3, "x2")); else annotations.push(far(`objective ${secs(d.slo.tpot)} →`, "x2"));
  plot($("#serve-cdf"), [
    { x: ttft.seconds, y: share(ttft), name: "TTFT (s)", mode: "lines", line: { color: "#4e79a7" } },
    { x: tpotMs, y: share(tpot), name: "TPOT (ms)", mode: "lines", xaxis: "x2", yaxis: "y2",
      line: { color: "#f28e2b" } },
  ], {
    title: { text: "Share of requests within a latency (red: the objectives)", font: { size: 14 } },
    xaxis: { domain: [0, 0.46], title: { text: "time to first token (s)" }, range: rx.range },
    xaxis2: { domain: [0.54, 1], title: { text: "time per output token (ms)" }, range: rx2.range },
    yaxis: { title: { text: "% of requests" }, range: [0, 101] },
    yaxis2: { anchor: "x2", range: [0, 101] },
    shapes, annotations,
    // The legend at the chart's foot, below the axes' titles however many lines they take
    // (one placed a share of the plot's height below it lay over their second lines).
    legend: { orientation: "h", yref: "container", y: 0, yanchor: "bottom" },
    margin: { l: 50, r: 10, t: 36, b: 40 }, height: 380,
  });
}

function renderCapacity(d) {
  const panel = $("#serve-capacity-panel");
  panel.hidden = !d.capacity;
  if (!d.capacity) return;
  const probes = [...d.capacity.probes].sort((a, b) => a.rate - b.rate);
  const key = (metric) => Object.keys(probes[0] || {}).find((k) => k.startsWith(`${metric}_p`));
  const [tk, pk] = [key("ttft"), key("tpot")];
  // The legend in words: "TTFT p99", not the answer's key ttft_p99.
  const named = (k) => (k ? k.replace(/^(\w+)_p/, (_, m) => `${m.toUpperCase()} p`) : "");
  const colors = probes.map((p) => (p.within_slo ? "#1a7f37" : "#b42318"));
  const rates = probes.map((p) => p.rate);
  plot($("#serve-capacity"), [
    { x: rates, y: probes.map((p) => p[tk]), name: `${named(tk)} (s)`, mode: "lines+markers",
      line: { color: "#4e79a7" }, marker: { color: colors, size: 9 } },
    { x: rates, y: probes.map((p) => ms(p[pk])), name: `${named(pk)} (ms)`, mode: "lines+markers", yaxis: "y2",
      line: { color: "#f28e2b", dash: "dash" }, marker: { color: colors, size: 9, symbol: "square" } },
  ], {
    title: { text: (d.capacity.rate == null ? `Capacity search: ${d.capacity.warning} `
      : `Capacity search: ${p3(d.capacity.rate)} req/s is the highest rate within the SLO `) +
      "(green: met, red: missed)", font: { size: 14 } },
    xaxis: { title: { text: "arrival rate (requests/s)" } },
    yaxis: { title: { text: "TTFT (s)" }, rangemode: "tozero" },
    yaxis2: { title: { text: "TPOT (ms)" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
    shapes: [
      ...(d.capacity.rate == null ? [] : [{ type: "line", yref: "paper", x0: d.capacity.rate,
        x1: d.capacity.rate, y0: 0, y1: 1, line: { color: "#1a7f37", dash: "dot" } }]),
      { type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: d.slo.ttft, y1: d.slo.ttft, line: { color: "#4e79a7", dash: "dot", width: 1 } },
      { type: "line", xref: "paper", yref: "y2", x0: 0, x1: 1, y0: d.slo.tpot * 1e3, y1: d.slo.tpot * 1e3, line: { color: "#f28e2b", dash: "dot", width: 1 } },
    ],
    legend: { orientation: "h", y: -0.25 }, margin: { l: 50, r: 50, t: 36, b: 40 }, height: 380,
  });
}

// The advisor page -----------------------------------------------------------------------------
const money = (v, digits = 2) => (v == null ? "—" : `$${v.toFixed(digits)}`);
const setupName = (p) =>
  `${p.replicas} × ${p.tp > 1 ? `TP${p.tp} ` : ""}${p.experts === "ep" ? `EP${p.tp} ` : ""}` +
  `${p.pp > 1 ? `PP${p.pp} ` : ""}${p.device}`;

function simulated(p) {
  if (p.verified == null) return p.pp > 1 ? "not simulated (pipeline)" : "—";
  const figures = `TTFT ${secs(p.simulated_ttft)}, TPOT ${secs(p.simulated_tpot)}`;
  return p.verified ? `meets (${figures})` : `misses (${figures})`;
}

function renderAdvise(d) {
  const head = `<h2>Best setups by ${esc(d.rank)} for ${esc(d.model)}</h2>
    <p id="advise-summary">${d.feasible} of ${d.screened} setups meet the objectives
      (${esc(d.estimate)}).</p>`;
  if (!d.picks.length) {
    $("#advise-picks").innerHTML = `${head}<p class="worse">No setup meets the objectives; the
      reasons are listed below.</p>`;
  } else {
    const columns = ["#", "setup", "weights / KV", "batch limit", "TTFT", "TPOT", "$ per hour",
      "$ per M tokens", "energy per M tokens", "in the simulator", "Pareto"];
    const rows = d.picks.map((p, i) => `<tr class="${p.verified === false ? "misses" : ""}" data-device="${esc(p.device)}">
      <td>${i + 1}</td><td>${esc(setupName(p))}</td><td${p.stand_ins ? ` title="priced partly on stand-in curves: ${esc(p.stand_ins)}"` : ""}>${esc(p.precision)}${p.stand_ins ? " †" : ""} / KV${p.kv_bits}</td>
      <td>${p.batch_limit}</td><td>${secs(p.ttft)}</td><td>${secs(p.tpot)}</td>
      <td>${money(p.cost_per_hour)}</td><td>${money(p.cost_per_million, 4)}</td>
      <td>${si(p.energy_per_million, "J")}</td><td>${esc(simulated(p))}</td><td>${p.pareto ? "★" : ""}</td></tr>`).join("");
    const why = d.picks.slice(0, 3).map((p) => `<li>${esc(p.explanation)}</li>`).join("");
    const dagger = d.picks.some((p) => p.stand_ins)
      ? `<p class="muted" id="advise-stand-ins">† priced partly on stand-in curves (another kernel's,
          engine's or type's, where the engine's profile has none of its own); hover the
          precision for which.</p>` : "";
    const checked = Object.entries(d.validation || {}).map(([device, line]) =>
      `<li><b>${esc(device)}</b>: ${esc(line)}</li>`).join("");
    const measured = checked
      ? `<p class="muted">Checked against measured engine runs:</p><ul id="advise-validation">${checked}</ul>` : "";
    $("#advise-picks").innerHTML = `${head}<div class="scroll"><table id="advise-table" class="picks">
      <tr>${columns.map((c) => `<th>${c}</th>`).join("")}</tr>${rows}</table></div>${dagger}<ol>${why}</ol>${measured}`;
  }
  renderPareto(d);
  $("#advise-rejected").innerHTML = `<h2>Setups that do not meet the objectives</h2>` + (d.rejected.length
    ? `<ul id="advise-reasons">${d.rejected.map((r) => `<li><b>${r.count}</b> · ${esc(r.example)}
        ${r.count > 1 ? `<span class="muted">(one example of ${r.count})</span>` : ""}</li>`).join("")}</ul>`
    : "<p>None: every setup searched meets them.</p>");
  cueScrolls();
}

function renderPareto(d) {
  const priced = d.points.filter((p) => p.cost_per_million != null);
  const byDevice = {};
  for (const p of priced) (byDevice[p.device] ||= []).push(p);
  const label = (p) =>
    `${p.device} TP${p.tp}${p.experts === "ep" ? ` EP${p.tp}` : ""} PP${p.pp} ${p.weights} KV${p.kv_bits}`;
  // One colour per device however many there are (the golden angle around the hue circle).
  const hue = (i) => `hsl(${Math.round((i * 137.5) % 360)}, 65%, ${i % 2 ? 38 : 52}%)`;
  const traces = Object.entries(byDevice).map(([device, ps], i) => ({
    x: ps.map((p) => p.e2e), y: ps.map((p) => p.cost_per_million), text: ps.map(label), name: device,
    mode: "markers", marker: { size: 7, opacity: 0.7, color: hue(i) },
    hovertemplate: "%{text}<br>e2e %{x:.3g} s<br>$%{y:.3g} per M tokens<extra></extra>",
  }));
  const front = priced.filter((p) => p.pareto).sort((a, b) => a.e2e - b.e2e);
  traces.push({ x: front.map((p) => p.e2e), y: front.map((p) => p.cost_per_million), text: front.map(label),
    name: "Pareto front", mode: "lines+markers", line: { color: "#000" },
    marker: { size: 11, symbol: "circle-open", color: "#000", line: { width: 2 } },
    hovertemplate: "%{text}<br>e2e %{x:.3g} s<br>$%{y:.3g} per M tokens<extra>front</extra>" });
  plot($("#advise-pareto"), traces, {
    title: { text: "Cost against latency of every setup that meets the objectives", font: { size: 14 } },
    xaxis: { title: { text: "end-to-end latency of a request (s)" } },
    yaxis: { type: "log", title: { text: "USD per million tokens" },
      ...logTicks(priced.map((p) => p.cost_per_million)) },
    // The legend beside the plot, never over its axis; on a phone, the points name themselves.
    showlegend: innerWidth >= 700,
    legend: { x: 1.02, xanchor: "left", y: 1, font: { size: 10 } },
    margin: { l: 60, r: 10, t: 36, b: 40 }, height: 460,
  });
}

// Events -----------------------------------------------------------------------------------------
function wirePages() {
  for (const tab of document.querySelectorAll(".page-tab")) {
    tab.addEventListener("click", () => {
      if (state.page === tab.dataset.page) return;
      state.page = tab.dataset.page;
      fillForm();
      writeURL(true);
    });
  }
  for (const page of RUN_PAGES) {
    const root = $(`#page-${page}`);
    const onInput = (ev) => {
      const f = pageField(page, ev.target.dataset.key || "");
      if (!f) return;
      if (ev.target.validity && ev.target.validity.badInput) return;  // no number yet: runPage says so
      const value = readInput(ev.target, f, root);
      if (isScheduler(page, f.key)) {
        // A field set to the value a run would give it anyway (or a number box emptied)
        // follows the preset again; any other value is sent, and so is one whose run value
        // the page does not know (another field set may have changed it: a click must not
        // read as "follow the preset" where the engine turned the switch off).
        const base = followed(f.key);
        const cleared = value === null && !f.nullable;
        if (cleared || (base !== undefined && same(value, base))) delete state[page][f.key];
        else state[page][f.key] = value;
        fillScheduler();
      } else {
        state[page][f.key] = value;
      }
      if (f.key === "devices") fillHeadline();  // the advisor's devices, named in the header
      ev.target.classList.remove("invalid");
      writeURL();
      markStale();
    };
    root.addEventListener("input", onInput);
    root.addEventListener("change", onInput);
    root.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.target.matches("input")) runPage(page);
    });
  }
  $("#run-serve").addEventListener("click", () => runPage("serve"));
  // A scheduler box left empty (back to the preset) shows the preset's value once left.
  $("#page-serve").addEventListener("focusout", (ev) => {
    if (isScheduler("serve", (ev.target.dataset || {}).key)) setTimeout(fillScheduler, 0);
  });
  $("#serve-scheduler-reset").addEventListener("click", () => {
    for (const key of SCHEDULER_KEYS) delete state.serve[key];
    fillScheduler(true);
    writeURL();
    markStale();
  });
  $("#run-capacity").addEventListener("click", () => runPage("serve", true));
  $("#run-advise").addEventListener("click", () => runPage("advise"));
  $("#cancel-serve").addEventListener("click", () => cancelRun("serve"));
  // A page closed or left mid-run cancels its runs: nobody will read their answers.
  window.addEventListener("pagehide", () => {
    for (const job of Object.values(jobs)) {
      if (job) fetch(`/api/jobs/${job}`, { method: "DELETE", keepalive: true }).catch(() => {});
    }
  });
  for (const button of document.querySelectorAll("[data-run-export]")) {
    const [page, format] = button.dataset.runExport.split(":");
    button.addEventListener("click", () => exportRun(page, format));
  }
  $("#cancel-advise").addEventListener("click", () => cancelRun("advise"));
}

start();
