// Renders /openapi.json as a reference page: endpoints, parameters, request and response schemas.
"use strict";

const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
let SCHEMAS = {};

const refName = (ref) => ref.split("/").pop();

function typeOf(p) {
  if (p.$ref) return refName(p.$ref);
  if (p.anyOf) return p.anyOf.map(typeOf).join(" | ");
  if (p.enum) return p.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (p.type === "array") return `${typeOf(p.items || {})}[]`;
  if (p.type === "object" && p.additionalProperties) return `{${typeOf(p.additionalProperties)}}`;
  return p.type || "any";
}

function limits(p) {
  const parts = [];
  const alts = p.anyOf ? p.anyOf : [p];
  for (const a of alts) {
    for (const [key, sign] of [["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"],
      ["exclusiveMaximum", "<"], ["maxLength", "length ≤"], ["maxItems", "items ≤"]]) {
      if (a[key] != null) parts.push(`${sign} ${a[key]}`);
    }
  }
  return parts.join(", ");
}

function nested(p) {
  const refs = [p, ...(p.anyOf || []), p.items || {}, p.additionalProperties || {}]
    .filter((a) => a && a.$ref).map((a) => refName(a.$ref));
  return refs.filter((r) => SCHEMAS[r] && SCHEMAS[r].properties);
}

function schemaTable(name, seen = new Set()) {
  const schema = SCHEMAS[name];
  if (!schema || !schema.properties || seen.has(name)) return "";
  seen.add(name);
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties).map(([key, p]) => {
    const def = p.default === undefined ? (required.has(key) ? "required" : "") : JSON.stringify(p.default);
    return `<tr><td><code>${esc(key)}</code></td><td class="type">${esc(typeOf(p))}</td>
      <td>${esc(def)}</td><td>${esc(limits(p))}</td><td>${esc(p.description || "")}</td></tr>`;
  }).join("");
  const children = Object.values(schema.properties).flatMap(nested)
    .map((child) => (seen.has(child) ? "" : `<details><summary><code>${esc(child)}</code></summary>
      ${schemaTable(child, seen)}</details>`)).join("");
  return `<p class="muted">${esc(schema.description || "")}</p><table><tr><th>field</th><th>type</th>
    <th>default</th><th>limits</th><th>meaning</th></tr>${rows}</table>${children}`;
}

function bodyOf(content) {
  const json = content && content["application/json"];
  if (!json || !json.schema) return "";
  const s = json.schema;
  const name = s.$ref ? refName(s.$ref) : s.items && s.items.$ref ? refName(s.items.$ref) : null;
  const label = s.type === "array" ? `${name}[]` : name;
  return name ? `<code>${esc(label)}</code>${schemaTable(name)}` : `<code>${esc(typeOf(s))}</code>`;
}

function endpoint(path, method, op) {
  const params = (op.parameters || []).map((p) => `<tr><td><code>${esc(p.name)}</code></td>
    <td>${esc(p.in)}</td><td class="type">${esc(typeOf(p.schema || {}))}</td>
    <td>${esc(limits(p.schema || {}))}</td><td>${esc(p.description || "")}</td></tr>`).join("");
  const responses = Object.entries(op.responses || {}).map(([code, r]) =>
    `<details${code === "200" ? " open" : ""}><summary>${esc(code)} ${esc(r.description || "")}</summary>
      ${bodyOf(r.content)}</details>`).join("");
  return `<h2><span class="method">${method.toUpperCase()}</span> <code>${esc(path)}</code></h2>
    <p>${esc(op.description || op.summary || "")}</p>
    ${params ? `<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>type</th><th>limits</th>
      <th>meaning</th></tr>${params}</table>` : ""}
    ${op.requestBody ? `<h3>Request body</h3>${bodyOf(op.requestBody.content)}` : ""}
    <h3>Responses</h3>${responses}`;
}

async function start() {
  const api = await fetch("/openapi.json").then((r) => r.json());
  SCHEMAS = api.components.schemas;
  // Endpoints by their tag, each tag a heading a link reaches (/docs#tag/serving).
  const byTag = {};
  for (const [path, methods] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      (byTag[op.tags?.[0] ?? "other"] ||= []).push(endpoint(path, method, op));
    }
  }
  const parts = Object.entries(byTag).map(([tag, eps]) =>
    `<section id="tag/${esc(tag)}"><h1 class="tag">${esc(tag)}</h1>${eps.join("")}</section>`);
  document.getElementById("reference").innerHTML =
    `<p>${esc(api.info.title)} ${esc(api.info.version)}: ${esc(api.info.description || "")}</p>${parts.join("")}`;
  // The page is drawn after load: the browser found no anchor then, so go to it now.
  let id = location.hash.slice(1);
  try { id = decodeURIComponent(id); } catch { /* a malformed escape: the hash as written */ }
  const target = id && document.getElementById(id);
  if (target) target.scrollIntoView();
}

start();
