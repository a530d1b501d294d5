// The studio page: projects, uploads, track controls, mixing jobs, the player with its loudness-matched A/B
// switch, the mixer view whose edits re-render (a preview excerpt first, then the whole song), and the project's
// versions: the current one is what the page shows (after a reload too), earlier ones can be restored.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { options: null, project: null, opening: null, events: null, version: null, openingVersion: null,
                original: null, recipe: null, players: {}, source: "mix", renderTimer: null, awaitPreview: null,
                ownRenders: new Set(), progress: null };

// --- talking to the server -------------------------------------------------------------------------------------
// play() rejects with AbortError when a later pause() interrupts it, which switching sources does on purpose.
function startPlaying(audio) {
  return audio.play().catch((e) => { if (e.name !== "AbortError") throw e; });
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (response.status === 401) { location.assign("/login"); throw new Error("log in first"); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({ error: `${path}: the server answered ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `${path}: the server answered ${response.status}`);
  return body;
}
const send = (method, path, body) => api(path, { method, headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify(body) });

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind === "info" ? "info" : "";
  box.hidden = !text;
}
const guarded = (f) => async (...args) => { try { say(""); await f(...args); } catch (e) { say(e.message); } };

function projectId() {  // the open project's id, for the controls that act on it
  if (!state.project) throw new Error("no project is open; fix: choose one above, or create one");
  return state.project.id;
}

// --- projects --------------------------------------------------------------------------------------------------
function fill(select, values, blank) {
  select.replaceChildren();
  if (blank !== undefined) select.append(new Option(blank, ""));
  for (const v of values) select.append(new Option(v, v));
}

async function listProjects(selected) {
  const projects = await api("/api/projects");
  fill($("project-select"), [], "choose…");
  for (const p of projects) $("project-select").append(new Option(p.name, p.id));
  $("project-select").value = selected || "";
}

async function openProject(id) {
  if (state.events) { state.events.close(); state.events = null; }
  clearMix();
  state.project = null;
  state.opening = id || null;
  $("uploads").replaceChildren();
  $("tracks").querySelector("tbody").dataset.shown = "";
  if (!id) {
    $("project").hidden = true;
    history.replaceState(null, "", location.pathname);
    return;
  }
  history.replaceState(null, "", `?project=${id}`);
  const project = await api(`/api/projects/${id}`);
  if (state.opening !== id) return;  // another project was chosen meanwhile
  show(project);
  const events = new EventSource(`/api/projects/${id}/events`);
  events.onmessage = (e) => { if (state.opening === id) show(JSON.parse(e.data)); };
  events.addEventListener("deleted", () => guarded(projectDeleted)(id));
  state.events = events;
}

async function projectDeleted(id) {  // in another tab, or by a script
  if (state.opening !== id) return;
  const name = state.project ? state.project.name : "the project";
  await openProject("");
  await listProjects();
  say(`${name} was deleted (in another tab or by a script); choose another project`, "info");
}

function show(project) {
  if (state.opening !== project.id) return;  // a late answer about a project no longer open
  state.project = project;
  $("project").hidden = false;
  $("project-name").textContent = project.name;
  $("genre").value = project.genre || "";
  $("target").value = project.target;
  showTracks(project.stems);
  showJobs(project.jobs);
  showVersions(project);
  showReference(project.reference);
}

// --- uploads ---------------------------------------------------------------------------------------------------
function upload(id, file, kind) {
  const item = document.createElement("li");
  const bar = Object.assign(document.createElement("progress"), { max: 1, value: 0 });
  item.append(bar, ` ${file.name}`);
  $("uploads").append(item);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/projects/${id}/files?kind=${kind}`);
    request.setRequestHeader("X-Filename", encodeURIComponent(file.name));
    request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    request.onload = () => {
      if (request.status === 201) {
        const warnings = JSON.parse(request.responseText).warnings || [];
        if (!warnings.length) { item.remove(); resolve(true); return; }
        item.className = "warning";  // kept, with what decoding found (a silent file)
        item.textContent = warnings.join("; ");
        resolve(true);
        return;
      }
      let error = `${file.name}: the server answered ${request.status}`;
      try { error = JSON.parse(request.responseText).error || error; } catch (_) { /* not JSON */ }
      item.className = "failed";
      item.textContent = error;
      resolve(false);
    };
    request.onerror = () => { item.className = "failed"; item.textContent = `${file.name}: upload failed`; resolve(false); };
    request.send(file);
  });
}

async function uploadAll(files, kind = "stem") {
  const id = projectId();
  const queue = [...files];
  const lanes = Array.from({ length: Math.min(3, queue.length) }, async () => {
    while (queue.length) await upload(id, queue.shift(), kind);
  });
  await Promise.all(lanes);
  show(await api(`/api/projects/${id}`));
}

// --- tracks ----------------------------------------------------------------------------------------------------
function control(track, key, values) {
  const select = document.createElement("select");
  fill(select, values, "auto");
  select.value = track[key] || "";
  select.name = `${key}-${track.name}`;
  select.onchange = guarded(() => send("PATCH", `/api/projects/${projectId()}/files/${track.id}`,
                                       { [key]: select.value }));
  return select;
}

function showTracks(stems) {
  const body = $("tracks").querySelector("tbody");
  const focused = document.activeElement && document.activeElement.name;
  if (body.dataset.shown === JSON.stringify(stems)) return;  // unchanged: keep the user's open menus
  body.dataset.shown = JSON.stringify(stems);
  body.replaceChildren();
  const o = state.options;
  for (const t of stems) {
    const row = body.insertRow();
    const name = row.insertCell();
    name.textContent = t.name;
    for (const w of t.warnings || []) name.append(Object.assign(document.createElement("span"), { className: "warn", textContent: w }));
    row.insertCell().textContent = t.detected_role ? `${t.detected_role} (${Math.round(100 * t.role_confidence)} %)` : "–";
    row.insertCell().append(control(t, "role", o.roles));
    row.insertCell().append(control(t, "priority", o.priorities));
    row.insertCell().append(control(t, "pan", o.pans));
    row.insertCell().append(control(t, "reverb", o.reverbs));
    const keep = Object.assign(document.createElement("input"), { type: "checkbox", checked: t.keep, name: `keep-${t.name}` });
    keep.onchange = guarded(() => send("PATCH", `/api/projects/${projectId()}/files/${t.id}`, { keep: keep.checked }));
    row.insertCell().append(keep);
    const remove = Object.assign(document.createElement("button"), { textContent: "Remove", title: `remove ${t.name}` });
    remove.onclick = guarded(async () => {
      const id = projectId();
      await api(`/api/projects/${id}/files/${t.id}`, { method: "DELETE" });
      show(await api(`/api/projects/${id}`));
    });
    row.insertCell().append(remove);
  }
  if (focused) { const again = document.getElementsByName(focused)[0]; if (again) again.focus(); }
}

// --- jobs ------------------------------------------------------------------------------------------------------
const active = (j) => j.status === "running" || j.status === "queued";
const makesVersion = (j) => j.kind === "mix" || (j.kind === "render" && !j.params.preview);

function showJobs(jobs) {
  // The bar follows the running job, else the next queued one (jobs come newest first), else the last one.
  const shown = jobs.find((j) => j.status === "running") || jobs.filter((j) => j.status === "queued").at(-1) || jobs[0];
  $("mix").disabled = $("analyse").disabled = jobs.some(active) || !state.project.stems.length;
  if (shown) {
    showProgress(shown);
    const doing = shown.status === "running" || (shown.status === "queued" && shown.stage);  // queued again: why
    $("job-stage").textContent = shown.status === "failed" ? `${shown.kind} failed: ${shown.error}`
      : `${shown.kind}: ${doing ? shown.stage : shown.status}`;
    $("job-stage").className = shown.status === "failed" ? "bad" : "";
  } else {
    state.progress = null;
    $("job-progress").value = 0;
    $("job-stage").textContent = "";
  }
  for (const r of jobs.filter((j) => j.kind === "render")) {
    if (r.status === "failed" && state.ownRenders.delete(r.id)) say(`re-render failed: ${r.error}`);
    if (r.status === "done" && r.result.preview && r.id === state.awaitPreview) playPreview(r);
  }
}

// One job's bar only moves forward (answers can arrive out of order: an upload's, the event stream's); it starts
// again from zero only when the job itself does (queued again after the studio stopped).
function showProgress(job) {
  const fraction = job.status === "done" ? 1 : job.status === "queued" ? 0 : job.fraction;
  const same = state.progress && state.progress.id === job.id && job.status !== "queued";
  state.progress = { id: job.id, value: same ? Math.max(state.progress.value, fraction) : fraction };
  $("job-progress").value = state.progress.value;
}

// --- versions: what the page shows is the project's current version -----------------------------------------------
function showVersions(project) {
  listVersions(project);
  const current = project.versions.find((v) => v.current);
  if (!current) return;
  if (state.version && state.version.job === current.job) {
    state.version = current;
  } else if (state.version && state.ownRenders.delete(current.job)) {
    guarded(useVersion)(current);  // this page's edit, rendered: the mixer already shows it
  } else {
    guarded(openVersion)(current);  // a reload, a restore, a new mix, or another tab's edit: the mixer follows
  }
  showDownloads(project);
}

function listVersions(project) {
  const list = $("versions");
  const key = JSON.stringify(project.versions.map((v) => [v.number, v.current]));
  $("versions-panel").hidden = !project.versions.length;
  if (list.dataset.shown === key) return;
  list.dataset.shown = key;
  list.replaceChildren();
  for (const v of [...project.versions].reverse()) {
    const item = Object.assign(document.createElement("li"), { className: v.current ? "current" : "" });
    item.dataset.version = v.number;
    item.append(Object.assign(document.createElement("strong"), { textContent: `version ${v.number}` }),
                Object.assign(document.createElement("span"), { className: "when",
                                                                textContent: new Date(v.created * 1000).toLocaleString() }),
                Object.assign(document.createElement("span"), { className: "label", textContent: v.label }));
    if (v.current) {
      item.append(Object.assign(document.createElement("em"), { textContent: "current" }));
    } else {
      const again = Object.assign(document.createElement("button"), { type: "button", textContent: "Restore",
                                                                     title: `make version ${v.number} current again` });
      again.onclick = guarded(() => restore(v.number));
      item.append(again);
    }
    list.append(item);
  }
}

async function restore(number) {
  const id = projectId();
  clearTimeout(state.renderTimer);
  state.ownRenders.clear();  // an edit still rendering becomes a version of its own, shown when it lands
  show(await send("POST", `/api/projects/${id}/versions/${number}/restore`, {}));
}

async function openVersion(version) {
  if (state.openingVersion === version.job) return;
  state.openingVersion = version.job;
  try {
    const [recipe, original] = await Promise.all([api(`/api/jobs/${version.job}/recipe`),
                                                  api(`/api/jobs/${version.mix_job}/recipe`)]);
    const now = state.project && state.project.versions.find((v) => v.current);
    if (!now || now.job !== version.job) return;  // the project changed meanwhile; its own call shows it
    state.version = now;
    state.original = original;
    state.recipe = recipe;
    $("player-panel").hidden = $("mixer-panel").hidden = false;
    setSources(now);
    buildMixer();
    showVersion(now);
    showDownloads(state.project);
  } finally {
    if (state.openingVersion === version.job) state.openingVersion = null;
  }
}

function showVersion(version) {
  const loudness = version.kind === "mix"
    ? `${version.method}: ${version.integrated_lufs.toFixed(1)} LUFS integrated, ${version.true_peak_db.toFixed(1)} dBTP`
    : `${version.method}, edited: ${version.integrated_lufs.toFixed(1)} LUFS integrated, `
      + `${version.sample_peak_db.toFixed(1)} dBFS sample peak `
      + (version.remaster ? "(mastered again for the target)" : "(the master chain as mixed)");
  $("loudness").textContent = `version ${version.number}, ${loudness}`;
  showWarnings(version);
}

// What the mix found (lossy sources, mono files in stereo, ...), and the pan preferences it left out on stereo
// tracks, each with a button that applies it as a balance (the mixer's pan on a stereo track): an edit like any.
function showWarnings(version) {
  const list = $("mix-warnings");
  list.replaceChildren();
  for (const text of version.warnings) {
    const item = Object.assign(document.createElement("li"), { textContent: text });
    const balance = version.balances.find((b) => text.startsWith(`${b.track}: pan ${b.pan} `));
    const strip = balance && state.recipe && state.recipe.tracks.find((t) => t.name === balance.track);
    if (strip) {
      const pan = stepOf(strip, "pan");
      if (pan && pan.params.pan * balance.balance > 0) {
        item.append(Object.assign(document.createElement("em"), { textContent: `applied: pan ${panText(pan.params.pan)}` }));
      } else {
        const apply = Object.assign(document.createElement("button"), { type: "button", textContent: "Apply as a balance",
                                                                       className: "balance" });
        apply.dataset.track = balance.track;
        apply.onclick = () => moveSlider(balance.track, "pan", balance.balance);
        item.append(apply);
      }
    }
    list.append(item);
  }
}

const panText = (x) => Math.abs(x) < 0.005 ? "C" : `${x < 0 ? "L" : "R"}${Math.round(Math.abs(x) * 100)}`;

function moveSlider(track, label, value) {
  const input = document.querySelector(`.strip[data-track="${CSS.escape(track)}"] input[aria-label="${label}"]`);
  if (!input) return;
  input.value = value;
  input.dispatchEvent(new Event("input"));
  input.dispatchEvent(new Event("change"));
}

// The links are the current version's; while a new one renders they say so, and the file names carry the number.
function showDownloads(project) {
  const v = state.version;
  if (!v) return;
  const pending = project.jobs.filter((j) => active(j) && makesVersion(j)).at(-1);
  const next = Math.max(0, ...project.versions.map((x) => x.number)) + 1;
  const label = `version ${v.number}` + (pending ? ` (${pending.kind === "mix" ? "mixing" : "rendering"} version ${next}…)` : "");
  $("dl-version").textContent = `Downloads: ${label}`;
  const set = (id, href, text) => {
    const link = $(id);
    link.href = href;
    link.textContent = text;
    link.classList.toggle("pending", Boolean(pending));
    link.title = pending ? `this is version ${v.number}; version ${next} is still being made` : "";
  };
  set("dl-mix", `${v.files.mix}?download=1`, `Download mix (version ${v.number})`);
  set("dl-recipe", `${v.files.recipe}?download=1`, `Recipe (version ${v.number})`);
  const asMixed = v.mix_version === v.number ? `version ${v.number}` : `as mixed in version ${v.mix_version}`;
  set("dl-stems", v.files.stems, `Processed stems (${asMixed})`);
  set("dl-report", v.files.report, `Report (${asMixed})`);
}

// Another project, or none: nothing of the previous one's mix stays on the page (or keeps playing).
function clearMix() {
  clearTimeout(state.renderTimer);
  for (const p of Object.values(state.players)) {
    p.element.pause();
    p.element.removeAttribute("src");
    p.element.load();
  }
  Object.assign(state, { version: null, openingVersion: null, original: null, recipe: null, awaitPreview: null,
                         progress: null, source: "mix" });
  state.ownRenders.clear();
  document.querySelector("input[name=ab][value=mix]").checked = true;
  $("play").textContent = "Play";
  $("player-panel").hidden = $("mixer-panel").hidden = $("versions-panel").hidden = true;
  for (const id of ["strips", "master-strip", "versions", "mix-warnings"]) $(id).replaceChildren();
  $("versions").dataset.shown = "";
  for (const id of ["loudness", "render-state", "dl-version", "job-stage"]) $(id).textContent = "";
  for (const id of ["dl-mix", "dl-recipe", "dl-stems", "dl-report"]) $(id).removeAttribute("href");
  $("job-progress").value = 0;
  peaks = null;
  drawCursor(0);
}

// --- the player: three synchronised sources, one heard ---------------------------------------------------------
let audioContext = null;
function player(name) {
  if (state.players[name]) return state.players[name];
  const element = new Audio();
  element.preload = "auto";
  element.crossOrigin = "anonymous";
  const p = { element, gain: null, level: 1 };
  element.addEventListener("timeupdate", () => { if (state.source === name) clock(); });
  element.addEventListener("ended", () => { if (state.source === name) $("play").textContent = "Play"; });
  state.players[name] = p;
  if (audioContext) route(p);  // made after the first play: through its gain too
  return p;
}

function route(p) {  // through Web Audio, so a quieter reference can be raised to the mix's loudness
  if (!audioContext) audioContext = new AudioContext();
  if (!p.gain) {
    p.gain = audioContext.createGain();
    p.gain.gain.value = 0;
    audioContext.createMediaElementSource(p.element).connect(p.gain).connect(audioContext.destination);
  }
}

function setSources(version) {
  // Every side plays at the loudness of the mix heard now (an edit re-renders it at its own loudness): the raw
  // sum was written at its mix's loudness, the reference plays from its measured loudness.
  const mixPlayer = player("mix");
  const at = mixPlayer.element.currentTime || 0;
  mixPlayer.element.src = version.files.mix;
  mixPlayer.element.currentTime = at;
  mixPlayer.level = 1;
  player("raw").element.src = version.files.raw;
  player("raw").level = 10 ** ((version.integrated_lufs - version.mix_lufs) / 20);
  showReference(state.project.reference);
  applyLevels();
  drawWaveform(mixPlayer.element.src);
}

// The reference follows the project: one uploaded (or replaced) after the mix plays too, at the mix's loudness.
function showReference(reference) {
  $("reference-name").textContent = reference ? reference.name : "none";
  $("ab-reference").disabled = !reference;
  const existing = state.players.reference;
  if (!reference) {
    if (existing) { existing.element.pause(); existing.element.removeAttribute("src"); existing.loaded = null; }
    if (state.source === "reference") { document.querySelector("input[name=ab][value=mix]").checked = true; switchTo("mix"); }
    return;
  }
  if (!state.version) return;  // loaded with the mix
  const p = player("reference");
  if (p.loaded !== reference.audio) {
    p.element.src = reference.audio;
    p.loaded = reference.audio;
  }
  p.level = reference.loudness_lufs == null ? 1 : 10 ** ((state.version.integrated_lufs - reference.loudness_lufs) / 20);
  applyLevels();
}

function heard() { return state.players[state.source]; }

async function togglePlay() {
  const p = heard();
  if (!p || !p.element.src) return;
  for (const q of Object.values(state.players)) route(q);
  await audioContext.resume();
  applyLevels();
  if (p.element.paused) { await startPlaying(p.element); $("play").textContent = "Pause"; }
  else { p.element.pause(); $("play").textContent = "Play"; }
}

function applyLevels() {
  for (const [name, p] of Object.entries(state.players)) if (p.gain) p.gain.gain.value = name === state.source ? p.level : 0;
}

function switchTo(name) {
  const before = heard();
  const playing = before && !before.element.paused;
  const at = before ? before.element.currentTime : 0;
  state.source = name;
  const now = heard();
  if (!now || !now.element.src) return;
  now.element.currentTime = Math.min(at, now.element.duration || at);
  applyLevels();
  for (const [other, p] of Object.entries(state.players)) if (other !== name) p.element.pause();
  if (playing) startPlaying(now.element);
}

function clock() {
  const t = heard().element.currentTime;
  $("clock").textContent = `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}`;
  drawCursor(t);
}

let peaks = null;
async function drawWaveform(url) {
  const canvas = $("waveform");
  canvas.width = canvas.clientWidth || 800;
  try {
    const data = await (await fetch(url)).arrayBuffer();
    const decoder = new OfflineAudioContext(1, 1, 44100);
    const buffer = await decoder.decodeAudioData(data);
    const samples = buffer.getChannelData(0);
    const columns = canvas.width, step = Math.max(1, Math.floor(samples.length / columns));
    peaks = { duration: buffer.duration, values: Array.from({ length: columns }, (_, i) => {
      let m = 0;
      for (let k = i * step; k < Math.min(samples.length, (i + 1) * step); k += 4) m = Math.max(m, Math.abs(samples[k]));
      return m;
    }) };
  } catch (_) { peaks = null; }
  drawCursor(0);
}

function drawCursor(t) {
  const canvas = $("waveform"), g = canvas.getContext("2d"), h = canvas.height;
  g.clearRect(0, 0, canvas.width, h);
  if (!peaks) return;
  g.fillStyle = "#4fb0ff";
  peaks.values.forEach((v, x) => g.fillRect(x, h / 2 - v * h / 2, 1, Math.max(1, v * h)));
  g.fillStyle = "#fff";
  g.fillRect(Math.round(t / peaks.duration * canvas.width), 0, 2, h);
}

// --- the mixer: edits of the recipe, re-rendered ----------------------------------------------------------------
const stepOf = (strip, type) => strip.chain.find((s) => s.type === type && !s.bypass);

// A slider's positions are min + k * step: a gain's range is moved down (by less than a step) so that the value the
// recipe holds is one of them; the slider shows it exactly, and a move of 6 dB on screen is 6 dB in the recipe.
function slider(label, min, max, step, value, unit, onchange, { align = false } = {}) {
  if (align) min = value - Math.ceil((value - min) / step - 1e-9) * step;
  const wrap = document.createElement("label");
  const out = document.createElement("output");
  const input = Object.assign(document.createElement("input"), { type: "range", min, max, step, value });
  input.setAttribute("aria-label", label);
  const text = () => { out.textContent = `${Number(input.value).toFixed(step < 1 ? 1 : 0)}${unit}`; };
  text();
  input.oninput = text;
  input.onchange = () => { onchange(Number(input.value)); scheduleRender(); };
  wrap.append(label, input, out);
  return wrap;
}

function buildMixer() {
  const strips = $("strips");
  strips.replaceChildren();
  const hasReverb = state.recipe.returns.some((r) => r.name === "reverb");
  for (const track of state.recipe.tracks) {
    const original = state.original.tracks.find((t) => t.name === track.name) || track;
    const box = Object.assign(document.createElement("div"), { className: "strip" });
    box.dataset.track = track.name;
    box.append(Object.assign(document.createElement("h3"), { textContent: track.name, title: track.name }));
    const gain = stepOf(track, "gain");
    const fader = gain ? gain.params.gain_db : 0;
    box.append(slider("fader", Math.min(-36, fader - 12), Math.max(12, fader + 12), 0.5, fader, " dB", (v) => {
      let step = stepOf(track, "gain");
      if (!step) { step = { type: "gain", params: {} }; track.chain.unshift(step); }
      step.params.gain_db = v;
    }, { align: true }));
    const pan = stepOf(track, "pan");
    box.append(slider("pan", -1, 1, 0.05, pan ? pan.params.pan : 0, "", (v) => {
      let step = stepOf(track, "pan");
      if (!step) { step = { type: "pan", params: {} }; track.chain.push(step); }
      step.params.pan = v;
    }));
    if (hasReverb) {
      const sendOf = (strip) => strip.sends.find((s) => s.to === "reverb");
      box.append(slider("reverb send", -60, 0, 1, sendOf(track) ? sendOf(track).level_db : -60, " dB", (v) => {
        track.sends = track.sends.filter((s) => s.to !== "reverb");
        if (v > -60) track.sends.push({ to: "reverb", level_db: v });
      }));
    }
    if (stepOf(original, "parametric_eq") && stepOf(track, "parametric_eq")) {
      box.append(slider("EQ amount", 0, 2, 0.1, eqAmount(track, original), "×", (a) => {
        const eq = stepOf(track, "parametric_eq"), from = stepOf(original, "parametric_eq");
        for (const [k, v] of Object.entries(from.params)) if (k.endsWith("_gain_db")) eq.params[k] = v * a;
      }));
    }
    if (stepOf(original, "compressor") && stepOf(track, "compressor")) {
      box.append(slider("dynamics amount", 0, 2, 0.1, dynamicsAmount(track, original), "×", (a) => {
        const c = stepOf(track, "compressor"), from = stepOf(original, "compressor");
        c.params.ratio = 1 + ((from.params.ratio ?? 2) - 1) * a;
        if (from.params.makeup_db !== undefined) c.params.makeup_db = from.params.makeup_db * a;
      }));
    }
    const mute = Object.assign(document.createElement("input"), { type: "checkbox", checked: Boolean(track.mute) });
    mute.onchange = () => { track.mute = mute.checked; scheduleRender(); };
    const muteLabel = document.createElement("label");
    muteLabel.append(mute, " mute");
    box.append(muteLabel);
    strips.append(box);
  }
  buildMasterStrip();
  $("render-state").textContent = "";
}

// The amounts a version was edited to, read back from its recipe against the mix's (1 = as mixed).
const amountOf = (x) => Number.isFinite(x) ? Math.min(2, Math.max(0, Math.round(x * 10) / 10)) : 1;
function eqAmount(track, original) {
  const eq = stepOf(track, "parametric_eq"), from = stepOf(original, "parametric_eq");
  const key = Object.keys(from.params).find((k) => k.endsWith("_gain_db") && Math.abs(from.params[k]) > 1e-6);
  return key && typeof eq.params[key] === "number" ? amountOf(eq.params[key] / from.params[key]) : 1;
}
function dynamicsAmount(track, original) {
  const ratio = stepOf(track, "compressor").params.ratio, from = stepOf(original, "compressor").params.ratio ?? 2;
  return typeof ratio === "number" && from !== 1 ? amountOf((ratio - 1) / (from - 1)) : 1;
}

// The master gain moves the fixed master chain; "master again" decides the chain anew for the loudness target.
function buildMasterStrip() {
  const master = Object.assign(document.createElement("div"), { className: "strip" });
  master.append(Object.assign(document.createElement("h3"), { textContent: "master" }));
  const makeUp = stepOf({ chain: state.recipe.master.chain }, "gain");
  const masterGain = makeUp ? makeUp.params.gain_db : 0;
  master.append(slider("master gain", masterGain - 12, masterGain + 12, 0.5, masterGain, " dB", (v) => {
    let step = stepOf({ chain: state.recipe.master.chain }, "gain");
    if (!step) {
      step = { type: "gain", params: {} };
      const limiter = state.recipe.master.chain.findIndex((s) => s.type === "limiter");
      state.recipe.master.chain.splice(limiter < 0 ? state.recipe.master.chain.length : limiter, 0, step);
    }
    step.params.gain_db = v;
  }, { align: true }));
  const again = Object.assign(document.createElement("button"), { id: "remaster", type: "button",
    textContent: "Master again", title: "decide the master chain anew for the project's loudness target" });
  again.onclick = guarded(remaster);
  master.append(again);
  $("master-strip").replaceChildren(master);
}

function scheduleRender() {
  clearTimeout(state.renderTimer);
  state.renderTimer = setTimeout(guarded(render), 350);
}

// An edit renders from the version shown: a preview first (played at once), then the whole song, which becomes the
// project's next version when it is done.
async function render() {
  if (!state.version) return;
  const base = state.version.job;
  const at = heard() ? heard().element.currentTime : 0;
  const start = Math.max(0, at - 1);
  $("render-state").textContent = "rendering a preview…";
  const preview = await send("POST", `/api/jobs/${base}/render`, { recipe: state.recipe, preview: true, start_s: start });
  state.awaitPreview = preview.id;
  const full = await send("POST", `/api/jobs/${base}/render`, { recipe: state.recipe, preview: false });
  state.ownRenders.add(full.id);
}

async function remaster() {
  if (!state.version) return;
  clearTimeout(state.renderTimer);
  $("render-state").textContent = "mastering the edited mix again (the whole song)…";
  const full = await send("POST", `/api/jobs/${state.version.job}/render`,
                          { recipe: state.recipe, preview: false, remaster: true });
  state.ownRenders.add(full.id);
}

function playPreview(job) {
  state.awaitPreview = null;
  $("render-state").textContent = `preview ready (${job.result.seconds.toFixed(0)} s); rendering the whole song…`;
  const p = player("preview");
  p.level = 1;
  p.element.src = `/api/jobs/${job.id}/files/mix`;
  p.offset = job.result.start_s;
  const wasPlaying = heard() && !heard().element.paused;
  for (const q of Object.values(state.players)) q.element.pause();
  state.source = "preview";
  if (wasPlaying) { route(p); applyLevels(); startPlaying(p.element); }
}

// This page's edit became the current version: play it from where the preview was, keep the mixer as it is.
async function useVersion(version) {
  state.version = version;
  if (version.remaster) {  // later edits keep the new master chain
    state.recipe.master = (await api(`/api/jobs/${version.job}/recipe`)).master;
    buildMasterStrip();
  }
  $("render-state").textContent = `re-rendered: version ${version.number}, ${version.integrated_lufs.toFixed(1)} LUFS`;
  showVersion(version);
  const previewPlayer = state.players.preview;
  const at = previewPlayer && state.source === "preview" ? previewPlayer.offset + previewPlayer.element.currentTime : null;
  const wasPlaying = previewPlayer && !previewPlayer.element.paused;
  if (previewPlayer) previewPlayer.element.pause();
  state.source = document.querySelector("input[name=ab]:checked").value;
  setSources(version);
  showDownloads(state.project);
  if (at !== null) heard().element.currentTime = at;
  if (wasPlaying) { applyLevels(); startPlaying(heard().element); }
}

// --- start -----------------------------------------------------------------------------------------------------
async function start() {
  state.options = await api("/api/options");
  fill($("genre"), state.options.genres, "any");
  fill($("target"), state.options.targets);
  fill($("method"), state.options.methods);
  $("project-select").onchange = guarded(() => openProject($("project-select").value));
  $("new-project").onsubmit = guarded(async (e) => {
    e.preventDefault();
    const project = await send("POST", "/api/projects", { name: $("new-name").value });
    $("new-name").value = "";
    await listProjects(project.id);
    await openProject(project.id);
  });
  $("genre").onchange = guarded(() => send("PATCH", `/api/projects/${projectId()}`, { genre: $("genre").value }));
  $("target").onchange = guarded(() => send("PATCH", `/api/projects/${projectId()}`, { target: $("target").value }));
  $("stem-input").onchange = guarded(() => uploadAll($("stem-input").files));
  $("reference-input").onchange = guarded(() => uploadAll($("reference-input").files, "reference"));
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = guarded(async (e) => { e.preventDefault(); drop.classList.remove("over"); await uploadAll(e.dataTransfer.files); });
  $("analyse").onclick = guarded(() => api(`/api/projects/${projectId()}/analyse`, { method: "POST" }));
  $("mix").onclick = guarded(() => send("POST", `/api/projects/${projectId()}/mix`, { method: $("method").value }));
  $("play").onclick = guarded(togglePlay);
  for (const radio of document.querySelectorAll("input[name=ab]")) radio.onchange = () => switchTo(radio.value);
  $("waveform").onclick = (e) => {
    if (!peaks || !heard()) return;
    const t = e.offsetX / $("waveform").clientWidth * peaks.duration;
    heard().element.currentTime = state.source === "preview" ? 0 : t;
    drawCursor(t);
  };
  const wanted = new URLSearchParams(location.search).get("project");
  await listProjects(wanted);
  if (wanted) {
    try { await openProject(wanted); } catch (e) { await openProject(""); say(e.message); }
  }
}
start().catch((e) => say(e.message));
