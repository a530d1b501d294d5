// A participant's listening test: trials in their own random order, versions that switch in step, ratings 0-100.
"use strict";

const $ = (id) => document.getElementById(id);
const testId = location.pathname.split("/").pop();
const key = new URLSearchParams(location.search).get("key") || "";
let plan = null, index = 0, players = [], playing = null;

// play() rejects with AbortError when a later pause() interrupts it, which switching sources does on purpose.
function startPlaying(audio) {
  return audio.play().catch((e) => { if (e.name !== "AbortError") throw e; });
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `${path}: the server answered ${response.status}` }));
  if (!response.ok) throw new Error(body.error);
  return body;
}
function say(text) { $("message").textContent = text; $("message").hidden = !text; }
const guarded = (f) => async (...a) => { try { say(""); await f(...a); } catch (e) { say(e.message); } };

async function start() {
  const stored = localStorage.getItem(`mixdown-participant-${testId}`);
  plan = stored ? await api(`/api/listen/p/${stored}`).catch(() => null) : null;
  if (!plan) {
    plan = await api(`/api/listen/${testId}/join?key=${encodeURIComponent(key)}`, { method: "POST" });
    localStorage.setItem(`mixdown-participant-${testId}`, plan.participant);
  }
  $("test-name").textContent = plan.test;
  if (plan.finished) { $("done").hidden = false; return; }
  $("songs").textContent = plan.trials.length;
  $("criteria").textContent = plan.criteria.join(", ");
  const answered = new Set(plan.answers.map((a) => a.stimulus));
  index = plan.trials.findIndex((t) => t.stimuli.some((s) => !answered.has(s.id)));
  if (index < 0) { await finish(); return; }
  $("intro").hidden = false;
}

function stop() { for (const p of players) p.pause(); playing = null; }

function play(audio) {
  const at = playing ? playing.currentTime : 0;
  stop();
  audio.currentTime = Math.min(at, audio.duration || at);
  startPlaying(audio);
  playing = audio;
}

function showTrial() {
  stop();
  const trial = plan.trials[index];
  $("intro").hidden = true;
  $("trial").hidden = false;
  $("trial-title").textContent = trial.title;
  const head = $("ratings").querySelector("thead tr");
  // the criteria are the admin's text: set as text, never parsed as markup
  head.replaceChildren(...["Version", ...plan.criteria].map((c) => Object.assign(document.createElement("th"), { textContent: c })));
  const body = $("ratings").querySelector("tbody");
  body.replaceChildren();
  players = [];
  const heard = new Set();
  if (trial.reference) {
    const ref = Object.assign(new Audio(trial.reference), { loop: true, preload: "auto" });
    players.push(ref);
    $("reference").hidden = false;
    $("reference").onclick = () => play(ref);
  } else { $("reference").hidden = true; }
  const check = () => {
    const left = trial.stimuli.length - heard.size;
    $("next").disabled = left > 0;
    $("left").textContent = left > 0 ? `${left} version(s) still to hear` : "";
  };
  for (const s of trial.stimuli) {
    const audio = Object.assign(new Audio(s.audio), { loop: true, preload: "auto" });
    players.push(audio);
    const row = body.insertRow();
    row.dataset.stimulus = s.id;
    const button = Object.assign(document.createElement("button"), { textContent: `Play ${s.label}` });
    row.insertCell().append(button);
    const sliders = plan.criteria.map((criterion) => {
      const input = Object.assign(document.createElement("input"), { type: "range", min: 0, max: 100, step: 1, value: 50, disabled: true });
      input.dataset.criterion = criterion;
      input.setAttribute("aria-label", `${criterion} of ${s.label}`);
      const out = Object.assign(document.createElement("output"), { textContent: "50" });
      input.oninput = () => { out.textContent = input.value; };
      const cell = row.insertCell();
      cell.append(input, " ", out);
      return input;
    });
    button.onclick = () => { play(audio); heard.add(s.id); for (const x of sliders) x.disabled = false; check(); };
  }
  check();
}

async function next() {
  const ratings = [];
  for (const row of $("ratings").querySelectorAll("tbody tr")) {
    for (const input of row.querySelectorAll("input[type=range]")) {
      ratings.push({ stimulus: row.dataset.stimulus, criterion: input.dataset.criterion, value: Number(input.value) });
    }
  }
  await api(`/api/listen/p/${plan.participant}/ratings`, { method: "POST", headers: { "Content-Type": "application/json" },
                                                           body: JSON.stringify({ ratings }) });
  index += 1;
  if (index < plan.trials.length) showTrial(); else await finish();
}

async function finish() {
  stop();
  await api(`/api/listen/p/${plan.participant}/finish`, { method: "POST" });
  $("trial").hidden = $("intro").hidden = true;
  $("done").hidden = false;
}

$("begin").onclick = guarded(async () => showTrial());
$("stop").onclick = stop;
$("next").onclick = guarded(next);
start().catch((e) => say(e.message));
