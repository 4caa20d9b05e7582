// PicStream playground: builds a form from a template's variables, signs the values through
// /playground/api/sign and shows the rendered image. Plain ES2020, no build step, no CDN.
"use strict";

const DEBOUNCE_MS = 200;   // re-render while typing, but not on every keystroke
const POLL_MS = 1000;      // template file changes show up within a second

const $ = (id) => document.getElementById(id);
const state = {
  templates: new Map(),    // name -> description from /playground/api/templates
  listVersion: null,
  current: null,           // name of the selected template
  currentVersion: null,
  values: {},              // name -> last value typed, kept across template reloads
  seq: 0,                  // only the newest request may update the page
  controller: null,        // AbortController of the request in flight
  timer: null,
  objectUrl: null,
};

function setStatus(text, bad = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("bad", bad);
}

// The API key is typed once, sent in a POST body and kept in an HttpOnly cookie: never in a
// URL (URLs end up in logs, history and Referer headers).
let pendingLogin = null;
function logIn() {
  if (!pendingLogin) {
    pendingLogin = (async () => {
      const key = window.prompt("PicStream API key");
      if (!key) return false;
      const resp = await fetch("/playground/api/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key }) });
      return resp.ok;
    })().finally(() => { setTimeout(() => { pendingLogin = null; }, 0); });
  }
  return pendingLogin;
}

async function getJSON(url, options = {}, retried = false) {
  const resp = await fetch(url, { credentials: "same-origin", ...options });
  if (resp.status === 401 && !retried && await logIn()) return getJSON(url, options, true);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.error || `${resp.status} ${resp.statusText}`);
    err.field = body.field;
    throw err;
  }
  return body;
}

// -- the form ------------------------------------------------------------------------------

function fieldId(name) { return `var-${name}`; }

function control(v) {
  let input;
  if (v.type === "choice") {
    input = document.createElement("select");
    for (const choice of v.choices) {
      const opt = document.createElement("option");
      opt.value = choice;
      opt.textContent = choice;
      input.append(opt);
    }
  } else if (v.type === "text" && (v.max_length || 0) > 100) {
    input = document.createElement("textarea");
    input.rows = 3;
  } else {
    input = document.createElement("input");
    input.type = { color: "color", number: "number", boolean: "checkbox" }[v.type] || "text";
  }
  if (v.type === "text" && v.max_length) input.maxLength = v.max_length;
  if (v.type === "number") {
    input.step = "any";
    if (v.min !== undefined) input.min = v.min;
    if (v.max !== undefined) input.max = v.max;
  }
  if (v.type === "image") {
    input.placeholder = v.has_fallback ? "https://… or asset:ID (empty: fallback art)"
                                       : "https://… or asset:ID";
    input.inputMode = "url";
    input.spellcheck = false;
  }
  return input;
}

function setValue(input, v, value) {
  if (v.type === "boolean") input.checked = value === true || value === "true";
  else if (v.type === "color") input.value = String(value || "#000000").slice(0, 7);
  else input.value = value === null || value === undefined ? "" : String(value);
}

function readValue(input, v) {
  if (v.type === "boolean") return input.checked;
  return input.value;
}

function buildForm(t) {
  const box = $("variables");
  box.querySelectorAll(".field").forEach((el) => el.remove());
  for (const v of t.variables) {
    const wrap = document.createElement("div");
    wrap.className = v.type === "boolean" ? "field check" : "field";
    const input = control(v);
    input.id = fieldId(v.name);
    input.name = v.name;
    input.dataset.variable = v.name;
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = v.name;
    // An image with fallback art may stay empty even though it has no default.
    const required = v.required && !(v.type === "image" && v.has_fallback);
    if (required) label.classList.add("required");
    if (required) input.required = true;
    const remembered = Object.prototype.hasOwnProperty.call(state.values, v.name);
    setValue(input, v, remembered ? state.values[v.name] : v.default);
    const hintBits = [v.type];
    if (v.max_length) hintBits.push(`up to ${v.max_length} characters`);
    if (v.description) hintBits.push(v.description);
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `${input.id}-hint`;
    hint.textContent = hintBits.join(" · ");
    input.setAttribute("aria-describedby", hint.id);
    if (v.type === "boolean") wrap.append(input, label, hint);
    else wrap.append(label, input, hint);
    box.append(wrap);
  }
  const fmt = $("out-format");
  const previous = fmt.value;
  fmt.replaceChildren(...t.formats.map((f) => {
    const opt = document.createElement("option");
    opt.value = f;
    opt.textContent = f.toUpperCase();
    return opt;
  }));
  fmt.value = t.formats.includes(previous) ? previous : t.formats.includes("png") ? "png"
                                                                                    : t.formats[0];
  $("out-width").placeholder = `${t.width} (template width)`;
  $("template-description").textContent = `${t.description || ""} ${t.width}×${t.height}`.trim();
  $("out-height").placeholder = t.follow ? "canvas follows w × h" : "from the width";
  $("template-layers").textContent = `Layers: ${(t.layers || []).map(layerLabel).join(", ")}`;
}

// "group (text, text, group (text))": what the template draws, groups with their children
function layerLabel(layer) {
  const when = layer.when ? ` when ${layer.when}` : "";
  if (layer.type !== "group") return layer.type + when;
  return `${layer.direction} group${when} (${layer.children.map(layerLabel).join(", ")})`;
}

function collect() {
  const t = state.templates.get(state.current);
  const variables = {};
  for (const v of t.variables) {
    const input = $(fieldId(v.name));
    if (!input) continue;
    variables[v.name] = readValue(input, v);
    state.values[v.name] = variables[v.name];
  }
  const width = $("out-width").value.trim();
  const height = $("out-height").value.trim();
  return {
    template: state.current,
    variables,
    output: {
      format: $("out-format").value,
      width: width === "" ? null : Number(width),
      height: height === "" ? null : Number(height),
      dpr: Number($("out-dpr").value),
      explain: $("out-explain").checked,
    },
  };
}

// -- rendering -------------------------------------------------------------------------------

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(update, DEBOUNCE_MS);
}

function showFits(header) {
  const list = $("fits");
  list.replaceChildren();
  if (!header) return;
  for (const fit of JSON.parse(header)) {
    const li = document.createElement("li");
    li.textContent = `layers[${fit.layer}]${fit.part || ""}: ${fit.size}px, ` +
                     `${fit.lines} line(s), ` +
                     (fit.cut ? "cut with an ellipsis" : "fits");
    if (fit.cut) li.className = "cut";
    list.append(li);
  }
}

async function update() {
  if (!state.current) return;
  const token = ++state.seq;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const img = $("preview-img");
  img.dataset.state = "loading";
  try {
    const signed = await getJSON("/playground/api/sign", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(collect()),
      signal: controller.signal,
    });
    if (token !== state.seq) return;
    $("signed-url").value = signed.url;
    $("img-snippet").value = signed.img_snippet;
    $("email-snippet").value = signed.email_snippet;
    $("curl").value = signed.curl;
    const started = performance.now();
    const resp = await fetch(signed.preview, { signal: controller.signal,
                                               credentials: "same-origin" });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.error || `${resp.status} ${resp.statusText}`);
    }
    const blob = await resp.blob();
    if (token !== state.seq) return;
    const previous = state.objectUrl;
    state.objectUrl = URL.createObjectURL(blob);
    img.src = state.objectUrl;
    img.width = signed.width;
    img.height = signed.height;
    img.dataset.url = signed.url;
    img.dataset.state = "loaded";
    if (previous) URL.revokeObjectURL(previous);
    const ms = Math.round(performance.now() - started);
    $("preview-info").textContent =
      `${signed.format.toUpperCase()} · ${(blob.size / 1024).toFixed(1)} KB · ` +
      `${resp.headers.get("X-Cache") || "?"} · ${ms} ms`;
    showFits(resp.headers.get("X-Explain"));
    $("error").textContent = "";
  } catch (err) {
    if (err.name === "AbortError" || token !== state.seq) return;
    img.dataset.state = "error";
    $("error").textContent = err.field ? `${err.message}` : `Could not render: ${err.message}`;
  }
}

// -- templates and live reload ------------------------------------------------------------------

function fillTemplateSelect() {
  const select = $("template");
  const names = [...state.templates.keys()];
  select.replaceChildren(...names.map((n) => {
    const opt = document.createElement("option");
    opt.value = n;
    opt.textContent = n;
    return opt;
  }));
  if (!state.templates.has(state.current)) state.current = names[0] || null;
  select.value = state.current || "";
}

async function loadTemplates() {
  const body = await getJSON("/playground/api/templates", { cache: "no-store" });
  const errors = Object.values(body.errors || {});
  if (errors.length) setStatus(`Template error (serving the last good version): ${errors[0]}`, true);
  else setStatus(`${body.templates.length} template(s) · edits to template files show up here`);
  if (body.version === state.listVersion) return false;
  state.listVersion = body.version;
  state.templates = new Map(body.templates.map((t) => [t.name, t]));
  fillTemplateSelect();
  const t = state.templates.get(state.current);
  if (!t) return false;
  if (t.version !== state.currentVersion) {
    state.currentVersion = t.version;
    buildForm(t);
    return true;
  }
  return false;
}

async function poll() {
  if (!document.hidden) {
    try {
      if (await loadTemplates()) update();
    } catch (err) {
      setStatus(`Server unreachable: ${err.message}`, true);
    }
  }
  setTimeout(poll, POLL_MS);
}

function copyFrom(id, button) {
  const field = $(id);
  field.select();
  const done = () => { button.textContent = "Copied"; setTimeout(() => {
    button.textContent = button.dataset.label; }, 1200); };
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, () => {});
  else { document.execCommand("copy"); done(); }
}

function init() {
  $("template").addEventListener("change", (e) => {
    state.current = e.target.value;
    const t = state.templates.get(state.current);
    state.currentVersion = t.version;
    buildForm(t);
    update();
  });
  // One listener for every generated field: text, colour, number, select and checkbox.
  $("controls").addEventListener("input", (e) => { if (e.target.id !== "template") schedule(); });
  $("controls").addEventListener("change", (e) => {
    if (e.target.type === "checkbox" || e.target.tagName === "SELECT") schedule();
  });
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); update(); });
  for (const button of document.querySelectorAll("button.copy")) {
    button.dataset.label = button.textContent;
    button.addEventListener("click", () => copyFrom(button.dataset.copy, button));
  }
  loadTemplates().then(() => update(), (err) => setStatus(err.message, true))
    .finally(() => setTimeout(poll, POLL_MS));
}

document.addEventListener("DOMContentLoaded", init);
