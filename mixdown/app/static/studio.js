// The studio page: projects, uploads, track controls, mixing jobs, the player with its loudness-matched A/B
// switch, and the mixer view whose edits re-render (a preview excerpt first, then the whole song).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { options: null, project: null, events: null, mixJob: null, latest: null, original: null,
                recipe: null, players: {}, source: "mix", renderTimer: null, pendingFull: null };

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
  if (selected) $("project-select").value = selected;
}

async function openProject(id) {
  if (state.events) state.events.close();
  state.mixJob = state.latest = state.recipe = null;
  if (!id) { $("project").hidden = true; return; }
  history.replaceState(null, "", `?project=${id}`);
  show(await api(`/api/projects/${id}`));
  state.events = new EventSource(`/api/projects/${id}/events`);
  state.events.onmessage = (e) => show(JSON.parse(e.data));
}

function show(project) {
  state.project = project;
  $("project").hidden = false;
  $("project-name").textContent = project.name;
  $("genre").value = project.genre || "";
  $("target").value = project.target;
  $("reference-name").textContent = project.reference ? project.reference.name : "none";
  $("ab-reference").disabled = !project.reference;
  showTracks(project.stems);
  showJobs(project.jobs);
}

// --- uploads ---------------------------------------------------------------------------------------------------
function upload(file, kind) {
  const item = document.createElement("li");
  const bar = Object.assign(document.createElement("progress"), { max: 1, value: 0 });
  item.append(bar, ` ${file.name}`);
  $("uploads").append(item);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/projects/${state.project.id}/files?kind=${kind}`);
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
  const queue = [...files];
  const lanes = Array.from({ length: Math.min(3, queue.length) }, async () => {
    while (queue.length) await upload(queue.shift(), kind);
  });
  await Promise.all(lanes);
  show(await api(`/api/projects/${state.project.id}`));
}

// --- tracks ----------------------------------------------------------------------------------------------------
function control(track, key, values) {
  const select = document.createElement("select");
  fill(select, values, "auto");
  select.value = track[key] || "";
  select.name = `${key}-${track.name}`;
  select.onchange = guarded(() => send("PATCH", `/api/projects/${state.project.id}/files/${track.id}`,
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
    keep.onchange = guarded(() => send("PATCH", `/api/projects/${state.project.id}/files/${t.id}`, { keep: keep.checked }));
    row.insertCell().append(keep);
    const remove = Object.assign(document.createElement("button"), { textContent: "Remove", title: `remove ${t.name}` });
    remove.onclick = guarded(async () => {
      await api(`/api/projects/${state.project.id}/files/${t.id}`, { method: "DELETE" });
      show(await api(`/api/projects/${state.project.id}`));
    });
    row.insertCell().append(remove);
  }
  if (focused) { const again = document.getElementsByName(focused)[0]; if (again) again.focus(); }
}

// --- jobs ------------------------------------------------------------------------------------------------------
function showJobs(jobs) {
  const active = jobs.find((j) => j.status === "running" || j.status === "queued");
  const shown = active || jobs[0];
  $("mix").disabled = $("analyse").disabled = Boolean(active) || !state.project.stems.length;
  if (shown) {
    $("job-progress").value = shown.status === "done" ? 1 : shown.fraction;
    $("job-stage").textContent = shown.status === "failed" ? `${shown.kind} failed: ${shown.error}`
      : `${shown.kind}: ${shown.status === "running" ? shown.stage : shown.status}`;
    $("job-stage").className = shown.status === "failed" ? "bad" : "";
  } else {
    $("job-progress").value = 0;
    $("job-stage").textContent = "";
  }
  const mixes = jobs.filter((j) => j.kind === "mix" && j.status === "done");
  if (mixes.length && (!state.mixJob || mixes[0].id !== state.mixJob.id)) openMix(mixes[0]);
  if (!state.mixJob) return;
  const renders = jobs.filter((j) => j.kind === "render" && j.params.mix_job === state.mixJob.id);
  for (const r of renders) {
    if (r.status === "failed" && r.id === state.pendingFull) { say(`re-render failed: ${r.error}`); state.pendingFull = null; }
    if (r.status !== "done") continue;
    if (r.result.preview && r.id === state.awaitPreview) playPreview(r);
    if (!r.result.preview && r.id === state.pendingFull) { state.pendingFull = null; guarded(useRender)(r); }
  }
}

async function openMix(job) {
  state.mixJob = state.latest = job;
  state.original = await api(`/api/jobs/${job.id}/recipe`);
  state.recipe = structuredClone(state.original);
  $("player-panel").hidden = $("mixer-panel").hidden = false;
  setSources(job);
  links(job);
  buildMixer();
  $("loudness").textContent = `${job.params.method}: ${job.result.integrated_lufs.toFixed(1)} LUFS integrated, `
    + `${job.result.true_peak_db.toFixed(1)} dBTP`;
}

function links(job) {
  const mix = state.mixJob;
  $("dl-mix").href = `/api/jobs/${job.id}/files/mix?download=1`;
  $("dl-recipe").href = `/api/jobs/${job.id}/files/recipe?download=1`;
  $("dl-stems").href = `/api/jobs/${mix.id}/stems.zip`;
  $("dl-report").href = `/api/jobs/${mix.id}/files/report`;
}

// --- the player: three synchronised sources, one heard ---------------------------------------------------------
let audioContext = null;
function player(name) {
  if (state.players[name]) return state.players[name];
  const element = new Audio();
  element.preload = "auto";
  element.crossOrigin = "anonymous";
  const p = { element, gain: null };
  element.addEventListener("timeupdate", () => { if (state.source === name) clock(); });
  element.addEventListener("ended", () => { if (state.source === name) $("play").textContent = "Play"; });
  state.players[name] = p;
  return p;
}

function route(p) {  // through Web Audio, so a quieter reference can be raised to the mix's loudness
  if (!audioContext) audioContext = new AudioContext();
  if (!p.gain) {
    p.gain = audioContext.createGain();
    audioContext.createMediaElementSource(p.element).connect(p.gain).connect(audioContext.destination);
  }
}

function setSources(job) {
  // Every side plays at the loudness of the mix heard now (an edit re-renders it at its own loudness): the raw
  // sum was written at the first mix's loudness, the reference plays from its measured loudness.
  const mixPlayer = player("mix");
  const at = mixPlayer.element.currentTime || 0;
  const lufs = job.result.integrated_lufs;
  mixPlayer.element.src = `/api/jobs/${job.id}/files/mix`;
  mixPlayer.element.currentTime = at;
  mixPlayer.level = 1;
  player("raw").element.src = `/api/jobs/${state.mixJob.id}/files/raw`;
  player("raw").level = 10 ** ((lufs - state.mixJob.result.integrated_lufs) / 20);
  const reference = state.project.reference;
  if (reference) {
    player("reference").element.src = reference.audio;
    player("reference").level = reference.loudness_lufs == null ? 1 : 10 ** ((lufs - reference.loudness_lufs) / 20);
  }
  applyLevels();
  drawWaveform(mixPlayer.element.src);
}

function heard() { return state.players[state.source]; }

async function togglePlay() {
  const p = heard();
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

function slider(label, min, max, step, value, unit, onchange) {
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
  state.recipe.tracks.forEach((track, i) => {
    const original = state.original.tracks[i];
    const box = Object.assign(document.createElement("div"), { className: "strip" });
    box.dataset.track = track.name;
    box.append(Object.assign(document.createElement("h3"), { textContent: track.name, title: track.name }));
    const gain = stepOf(track, "gain");
    const fader = gain ? gain.params.gain_db : 0;
    box.append(slider("fader", Math.min(-36, fader - 12), Math.max(12, fader + 12), 0.5, fader, " dB", (v) => {
      let step = stepOf(track, "gain");
      if (!step) { step = { type: "gain", params: {} }; track.chain.unshift(step); }
      step.params.gain_db = v;
    }));
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
    if (stepOf(original, "parametric_eq")) {
      box.append(slider("EQ amount", 0, 2, 0.1, 1, "×", (a) => {
        const eq = stepOf(track, "parametric_eq"), from = stepOf(original, "parametric_eq");
        for (const [k, v] of Object.entries(from.params)) if (k.endsWith("_gain_db")) eq.params[k] = v * a;
      }));
    }
    if (stepOf(original, "compressor")) {
      box.append(slider("dynamics amount", 0, 2, 0.1, 1, "×", (a) => {
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
  });
  buildMasterStrip();
  $("render-state").textContent = "";
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
  }));
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

async function render() {
  const at = heard() ? heard().element.currentTime : 0;
  const start = Math.max(0, at - 1);
  $("render-state").textContent = "rendering a preview…";
  const preview = await send("POST", `/api/jobs/${state.mixJob.id}/render`,
                             { recipe: state.recipe, preview: true, start_s: start });
  state.awaitPreview = preview.id;
  const full = await send("POST", `/api/jobs/${state.mixJob.id}/render`, { recipe: state.recipe, preview: false });
  state.pendingFull = full.id;
}

async function remaster() {
  clearTimeout(state.renderTimer);
  $("render-state").textContent = "mastering the edited mix again (the whole song)…";
  const full = await send("POST", `/api/jobs/${state.mixJob.id}/render`,
                          { recipe: state.recipe, preview: false, remaster: true });
  state.pendingFull = full.id;
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

async function useRender(job) {
  state.latest = job;
  if (job.result.remaster) {  // later edits keep the new master chain
    state.recipe.master = (await api(`/api/jobs/${job.id}/recipe`)).master;
    buildMasterStrip();
  }
  $("render-state").textContent = `re-rendered: ${job.result.integrated_lufs.toFixed(1)} LUFS`;
  $("loudness").textContent = `${state.mixJob.params.method}, edited: ${job.result.integrated_lufs.toFixed(1)} LUFS `
    + `integrated, ${job.result.sample_peak_db.toFixed(1)} dBFS sample peak `
    + (job.result.remaster ? "(mastered again for the target)" : "(the master chain as mixed)");
  const previewPlayer = state.players.preview;
  const at = previewPlayer && state.source === "preview" ? previewPlayer.offset + previewPlayer.element.currentTime : null;
  const wasPlaying = previewPlayer && !previewPlayer.element.paused;
  if (previewPlayer) previewPlayer.element.pause();
  state.source = document.querySelector("input[name=ab]:checked").value;
  setSources(job);
  links(job);
  if (at !== null) heard().element.currentTime = at;
  if (wasPlaying) { applyLevels(); startPlaying(heard().element); }
}

// --- start -----------------------------------------------------------------------------------------------------
async function start() {
  state.options = await api("/api/options");
  fill($("genre"), state.options.genres, "any");
  fill($("target"), state.options.targets);
  fill($("method"), state.options.methods);
  const wanted = new URLSearchParams(location.search).get("project");
  await listProjects(wanted);
  if (wanted) await openProject(wanted);
  $("project-select").onchange = guarded(() => openProject($("project-select").value));
  $("new-project").onsubmit = guarded(async (e) => {
    e.preventDefault();
    const project = await send("POST", "/api/projects", { name: $("new-name").value });
    $("new-name").value = "";
    await listProjects(project.id);
    await openProject(project.id);
  });
  $("genre").onchange = guarded(() => send("PATCH", `/api/projects/${state.project.id}`, { genre: $("genre").value }));
  $("target").onchange = guarded(() => send("PATCH", `/api/projects/${state.project.id}`, { target: $("target").value }));
  $("stem-input").onchange = guarded(() => uploadAll($("stem-input").files));
  $("reference-input").onchange = guarded(() => uploadAll($("reference-input").files, "reference"));
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = guarded(async (e) => { e.preventDefault(); drop.classList.remove("over"); await uploadAll(e.dataTransfer.files); });
  $("analyse").onclick = guarded(() => api(`/api/projects/${state.project.id}/analyse`, { method: "POST" }));
  $("mix").onclick = guarded(() => send("POST", `/api/projects/${state.project.id}/mix`, { method: $("method").value }));
  $("play").onclick = guarded(togglePlay);
  for (const radio of document.querySelectorAll("input[name=ab]")) radio.onchange = () => switchTo(radio.value);
  $("waveform").onclick = (e) => {
    if (!peaks || !heard()) return;
    const t = e.offsetX / $("waveform").clientWidth * peaks.duration;
    heard().element.currentTime = state.source === "preview" ? 0 : t;
    drawCursor(t);
  };
}
start().catch((e) => say(e.message));
