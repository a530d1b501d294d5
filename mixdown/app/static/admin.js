// The admin side of listening tests: build a test from finished mixes, share its link, read the results.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("mixdown-token") || new URLSearchParams(location.search).get("token") || "";

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { location.assign("/login"); throw new Error("log in first"); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({ error: `${path}: the server answered ${response.status}` }));
  if (!response.ok) throw Object.assign(new Error(body.error), { status: response.status });
  return body;
}
function say(text, kind = "error") {
  $("message").textContent = text;
  $("message").className = kind === "info" ? "info" : "";
  $("message").hidden = !text;
}
const guarded = (f) => async (...a) => { try { say(""); await f(...a); } catch (e) { say(e.message); } };

async function open() {
  try {
    await showTests();
  } catch (e) {
    if (e.status === 403) { $("token-panel").hidden = false; if (token) say(e.message); return; }
    throw e;
  }
  if (token) sessionStorage.setItem("mixdown-token", token);
  history.replaceState(null, "", "/admin");  // the token leaves the address bar
  $("token-panel").hidden = true;
  $("create-panel").hidden = $("tests-panel").hidden = false;
  await showMixes();
}

async function showMixes() {
  const box = $("mix-choices");
  box.replaceChildren();
  for (const summary of await api("/api/projects")) {
    const project = await api(`/api/projects/${summary.id}`);
    const mixes = project.jobs.filter((j) => j.status === "done" && (j.kind === "mix" || (j.kind === "render" && !j.result.preview)));
    if (!mixes.length) continue;
    const row = document.createElement("div");
    row.className = "row";
    row.append(Object.assign(document.createElement("strong"), { textContent: project.name }));
    for (const job of mixes) {
      const label = document.createElement("label");
      const what = job.kind === "mix" ? job.result.method : "edited mix";
      label.append(Object.assign(document.createElement("input"), { type: "checkbox", name: "mix", value: job.id, checked: true }),
                   ` ${what} (${new Date(job.created * 1000).toLocaleString()})`);
      label.dataset.project = project.id;
      row.append(label);
    }
    box.append(row);
  }
  if (!box.children.length) box.textContent = "No finished mixes yet: mix some songs in the studio first.";
}

async function showTests() {
  const tests = await api("/api/tests");
  const body = $("tests").querySelector("tbody");
  body.replaceChildren();
  for (const t of tests) {
    const row = body.insertRow();
    row.insertCell().textContent = t.name;
    row.insertCell().textContent = t.trials.length;
    row.insertCell().textContent = t.conditions.join(", ");
    row.insertCell().textContent = `${t.participants} (${t.finished})`;
    const link = Object.assign(document.createElement("a"), { href: t.link, textContent: location.origin + t.link, className: "link participant-link" });
    row.insertCell().append(link);
    const results = Object.assign(document.createElement("button"), { textContent: "Results" });
    results.onclick = guarded(() => showResults(t.id));
    row.insertCell().append(results);
  }
}

async function showResults(id) {
  const r = await api(`/api/tests/${id}/results`);
  $("results-panel").hidden = false;
  $("results-title").textContent = `Results: ${r.name} (${r.participants} participants, ${r.finished} finished, ${r.ratings} ratings)`;
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const s of r.summary) {
    const row = body.insertRow();
    for (const v of [s.criterion, s.condition, s.count, s.mean.toFixed(1), s.ci95 ? `${s.ci95[0].toFixed(1)} – ${s.ci95[1].toFixed(1)}` : "–"]) row.insertCell().textContent = v;
  }
  const png = await fetch(`/api/tests/${id}/results.png`, { headers: { Authorization: `Bearer ${token}` } });
  $("results-plot").src = URL.createObjectURL(await png.blob());
  $("results-csv").onclick = guarded(async () => {
    const csv = await fetch(`/api/tests/${id}/results.csv`, { headers: { Authorization: `Bearer ${token}` } });
    const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await csv.blob()), download: `ratings-${id.slice(0, 8)}.csv` });
    a.click();
  });
}

async function create(e) {
  e.preventDefault();
  const trials = {};
  for (const box of document.querySelectorAll("input[name=mix]:checked")) {
    const project = box.parentElement.dataset.project;
    (trials[project] = trials[project] || []).push(box.value);
  }
  if (!Object.keys(trials).length) throw new Error("no mixes chosen: check at least one mix");
  $("create").disabled = true;
  say("cutting and loudness-matching the excerpts…", "info");
  try {
    await api("/api/tests", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({
      name: $("test-name").value, seconds: Number($("test-seconds").value), hidden_reference: $("test-reference").checked,
      anchor: $("test-anchor").checked,
      criteria: [...document.querySelectorAll("input[name=criterion]:checked")].map((c) => c.value),
      trials: Object.entries(trials).map(([project_id, mixes]) => ({ project_id, mixes, raw_sum: $("test-raw").checked })),
    }) });
    say("test created: send its link to the participants", "info");
    await showTests();
  } finally { $("create").disabled = false; }
}

$("token-form").onsubmit = guarded(async (e) => { e.preventDefault(); token = $("token").value; await open(); });
$("create-form").onsubmit = guarded(create);
guarded(open)();  // with the token given, or the login cookie (which the token form is not needed for)
