// assay review: plain JavaScript, no build step, no external requests.
// Every string from the data is written with textContent, never as HTML.
"use strict";

// The token comes in the URL that 'assay review' printed. It is moved at once into this tab's
// sessionStorage and out of the address bar (and so out of the history); every API call sends it
// as a header. The page itself holds no data: everything comes from the API, with the token.
const TOKEN = (() => {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  let kept = null;
  try {
    if (fromUrl) sessionStorage.setItem("assay-token", fromUrl);
    kept = sessionStorage.getItem("assay-token");
  } catch (err) { /* storage disabled: keep it in memory only */ }
  if (fromUrl !== null) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return fromUrl || kept || "";
})();
const AUTH = { "X-Assay-Token": TOKEN };
const state = { session: null, queue: null, stage: "review", items: [], index: 0, pending: 0, saved: 0 };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function status(text) { document.getElementById("status").textContent = text; }

async function getJSON(url) {
  const res = await fetch(url, { headers: Object.assign({ Accept: "application/json" }, AUTH) });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

let imageUrl = null;

async function showImage(img, rowId) {
  // <img src> cannot send the token: fetch the image with it and show it from a blob: URL
  const res = await fetch(`/api/rows/${encodeURIComponent(rowId)}/image`, { headers: AUTH });
  if (!res.ok) { img.alt = "image not available for row " + rowId; return; }
  const url = URL.createObjectURL(await res.blob());
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = url;
  img.src = url;
}

function reviewer() { return document.getElementById("reviewer").value.trim(); }

async function loadSession() {
  if (!TOKEN) throw new Error("no token. Open the URL that 'assay review' printed (it carries the token).");
  state.session = await getJSON("/api/session");
  const s = state.session;
  document.getElementById("run").textContent = "run " + s.run_id;
  const expertOption = document.querySelector('#stage option[value="expert"]');
  expertOption.disabled = s.role !== "expert";
  expertOption.title = s.role === "expert" ? "" : "needs the expert URL ('assay review --expert')";
  document.getElementById("note").maxLength = s.limits.note;
  document.getElementById("reviewer").maxLength = s.limits.reviewer;
  const banner = document.getElementById("banner");
  if (s.banner) { banner.textContent = s.banner; banner.hidden = false; }
  const name = document.getElementById("reviewer");
  if (!name.value) name.value = localStorage.getItem("assay-reviewer") || s.reviewer || "";
  const classes = document.getElementById("classes");
  const select = document.getElementById("relabel");
  classes.replaceChildren();
  select.replaceChildren();
  s.classes.forEach((c, i) => {
    const li = el("li", c);
    if (i < 9) li.title = "key " + (i + 1);
    classes.appendChild(li);
    const opt = el("option", c);
    opt.value = c;
    select.appendChild(opt);
  });
  renderQueues();
  if (!state.queue && s.queues.length) await openQueue(s.queues[0].name);
  loadAgreement();
  loadSpotCheck();
}

function renderQueues() {
  const nav = document.getElementById("queues");
  nav.replaceChildren();
  for (const q of state.session.queues) {
    const total = state.stage === "expert" ? q.expert : q.total;
    const label = q.name.replace("_", " ") + " " + (state.stage === "expert" ? total : q.decided + "/" + total);
    const b = el("button", label, q.name === state.queue ? "active" : "");
    b.dataset.queue = q.name;
    b.addEventListener("click", () => openQueue(q.name));
    nav.appendChild(b);
  }
}

async function openQueue(name, rowId) {
  state.queue = name;
  state.index = 0;
  const who = encodeURIComponent(reviewer());
  const data = await getJSON(`/api/queues/${encodeURIComponent(name)}?stage=${state.stage}&reviewer_name=${who}&limit=500`);
  state.items = data.items;
  if (rowId !== undefined) {  // back to this row (after an undo)
    const at = state.items.findIndex((it) => it.row_id === rowId);
    if (at >= 0) state.index = at;
  }
  renderQueues();
  renderItem();
}

function renderItem() {
  const box = document.getElementById("item");
  box.replaceChildren();
  const item = state.items[state.index];
  if (!item) { box.appendChild(el("p", "Nothing to review in this queue.", "empty")); return; }
  box.dataset.rowId = item.row_id;
  box.appendChild(el("div", `${state.queue} · item ${state.index + 1} of ${state.items.length} · row ${item.row_id}`));
  const labels = el("div", null, "labels");
  labels.appendChild(el("span", "given: "));
  labels.appendChild(el("b", item.given_label, "given"));
  if (item.suggested_label !== null && item.suggested_label !== item.given_label) {
    labels.appendChild(el("span", "  suggested: "));
    labels.appendChild(el("b", item.suggested_label, "suggested"));
  }
  box.appendChild(labels);
  if (item.decision) {
    const d = item.decision;
    const what = d.action + (d.new_label ? " → " + d.new_label : "") + " by " + d.reviewer + (d.note ? " (" + d.note + ")" : "")
      + (d.carried_from ? " on an earlier version (run " + d.carried_from + "; the row has not changed since)" : "");
    const tag = el("div", "decided: " + what, "decided");
    tag.id = "decided";
    box.appendChild(tag);
  }
  if (item.image) {
    const img = document.createElement("img");
    img.alt = "row " + item.row_id;
    box.appendChild(img);
    showImage(img, item.row_id).catch(() => { img.alt = "image not available"; });
  }
  if (item.text !== null) box.appendChild(el("div", item.text, "text"));
  const table = el("table", null, "fields");
  for (const [k, v] of Object.entries(Object.assign({}, item.scores, item.fields))) {
    const tr = document.createElement("tr");
    tr.appendChild(el("td", k));
    tr.appendChild(el("td", v));
    table.appendChild(tr);
  }
  box.appendChild(table);
  if (item.neighbours && item.neighbours.length) {
    const nb = el("table", null, "neighbours");
    nb.appendChild(el("caption", "nearest rows"));
    for (const n of item.neighbours) {
      const tr = document.createElement("tr");
      tr.appendChild(el("td", n.row_id));
      tr.appendChild(el("td", n.label));
      tr.appendChild(el("td", n.distance));
      nb.appendChild(tr);
    }
    box.appendChild(nb);
  }
  if (item.annotators) box.appendChild(votesPanel(item.annotators));
  if (item.evidence && item.evidence.members) {
    box.appendChild(el("div", "duplicate set " + item.evidence.duplicate_set + ": rows " + item.evidence.members.join(", ")));
  }
}

function votesPanel(a) {
  // each annotator's label, then the Dawid-Skene posterior of the top classes
  const box = el("div", null, "votes");
  box.id = "votes";
  const table = el("table");
  table.appendChild(el("caption", "annotators"));
  for (const v of a.votes) {
    const tr = document.createElement("tr");
    tr.appendChild(el("td", v.annotator));
    tr.appendChild(el("td", v.label));
    table.appendChild(tr);
  }
  box.appendChild(table);
  const post = a.posterior.map((p) => p.label + " " + p.p.toFixed(2)).join(" · ");
  box.appendChild(el("div", "Dawid-Skene posterior: " + post, "posterior"));
  return box;
}

function move(delta) {
  if (!state.items.length) return;
  state.index = Math.max(0, Math.min(state.items.length - 1, state.index + delta));
  renderItem();
}

async function postDecision(payload, url) {
  const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
  const body = JSON.stringify(Object.assign({ client_key: key }, payload));
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(url || "/api/decisions", {
        method: "POST", body,
        headers: Object.assign({ "Content-Type": "application/json" }, AUTH),
      });
      const data = await res.json();
      if (!res.ok) throw Object.assign(new Error(data.error || res.statusText), { fatal: true });
      return data;
    } catch (err) {
      if (err.fatal || attempt === 2) throw err;  // retries reuse the key: never recorded twice
    }
  }
}

async function decide(action, newLabel) {
  const item = state.items[state.index];
  if (!item) return;
  const who = reviewer();
  if (!who) { status("Enter your name as reviewer first."); document.getElementById("reviewer").focus(); return; }
  localStorage.setItem("assay-reviewer", who);
  const noteInput = document.getElementById("note");
  const payload = { row_id: item.row_id, queue: state.queue, action, reviewer: who, stage: state.stage,
                    note: noteInput.value || null };
  if (action === "relabel") payload.new_label = newLabel;
  if (action === "duplicate" && item.evidence && item.evidence.members) {
    const other = item.evidence.members.find((m) => m !== item.row_id);
    if (other !== undefined) payload.duplicate_of = other;
  }
  state.pending += 1;
  try {
    const res = await postDecision(payload);
    item.decision = { action, new_label: newLabel || null, reviewer: who, note: payload.note, decision_id: res.decision_id };
    noteInput.value = "";
    if (state.items[state.index] === item) move(1);
    state.saved += 1;
    document.body.dataset.saved = String(state.saved);
    status(`Saved decision ${res.decision_id}: ${action}${newLabel ? " → " + newLabel : ""} on row ${item.row_id}.`);
    state.session = await getJSON("/api/session");
    renderQueues();
    loadAgreement();
    loadSpotCheck();
  } catch (err) {
    status("Not saved: " + err.message);
  } finally {
    state.pending -= 1;
  }
}

async function undoLast() {
  // appends an 'undo' decision: the reviewer's latest decision still in force is taken back
  const who = reviewer();
  if (!who) { status("Enter your name as reviewer first."); document.getElementById("reviewer").focus(); return; }
  state.pending += 1;
  try {
    const res = await postDecision({ reviewer: who, stage: state.stage }, "/api/undo");
    const u = res.undone;
    state.saved += 1;
    document.body.dataset.saved = String(state.saved);
    status(`Undid decision ${u.decision_id}: ${u.action}${u.new_label ? " → " + u.new_label : ""} on row ${u.row_id}` +
           (res.in_force ? ` (in force again: ${res.in_force.action})` : "") + ".");
    state.session = await getJSON("/api/session");
    const known = state.session.queues.some((q) => q.name === u.queue);
    await openQueue(known ? u.queue : state.queue, u.row_id);
    loadAgreement();
    loadSpotCheck();
  } catch (err) {
    status("Not undone: " + err.message);
  } finally {
    state.pending -= 1;
  }
}

async function loadAgreement() {
  const box = document.getElementById("agreement");
  try {
    const a = await getJSON("/api/agreement");
    if (!a.n_items) { box.textContent = "no item decided by two reviewers yet"; return; }
    const lines = [`${a.n_items} items, ${a.reviewers.length} reviewers`,
                   `agreement ${(a.percent_agreement * 100).toFixed(1)} %`];
    if (a.krippendorff_alpha !== null) lines.push(`Krippendorff alpha ${a.krippendorff_alpha.toFixed(3)}`);
    for (const p of a.pairs) lines.push(`${p.a} / ${p.b}: n=${p.n}, kappa ${p.cohen_kappa === null ? "-" : p.cohen_kappa.toFixed(3)}`);
    box.replaceChildren(...lines.map((t) => el("div", t)));
  } catch (err) { box.textContent = err.message; }
}

function spotBar(c) {
  // the header's always-visible summary of the label spot check
  const bar = document.getElementById("spotbar");
  if (!c.sample_size) { bar.textContent = "spot check: no label issues flagged"; return; }
  let text = `spot check ${c.n_reviewed}/${c.sample_size} reviewed`;
  if (c.n_reviewed) {
    text += ` · precision ${(c.precision * 100).toFixed(0)} % ` +
            `(95 %: ${(c.low * 100).toFixed(0)}-${(c.high * 100).toFixed(0)} %)`;
  } else text += " · precision not measured yet";
  bar.textContent = text;
}

async function loadSpotCheck() {
  const box = document.getElementById("spotcheck");
  try {
    const c = await getJSON("/api/spot_check");
    spotBar(c);
    if (!c.sample_size) { box.textContent = "no label issues flagged"; return; }
    const lines = [`${c.n_reviewed} / ${c.sample_size} random flagged rows reviewed`];
    if (c.n_reviewed) {
      lines.push(`precision ${(c.precision * 100).toFixed(0)} % ` +
                 `(95 %: ${(c.low * 100).toFixed(0)}-${(c.high * 100).toFixed(0)} %)`);
    }
    if (c.estimated_precision !== null) {
      lines.push(`audit's estimate ${(c.estimated_precision * 100).toFixed(0)} %` +
                 (c.estimates_reliable === false ? " (unreliable)" : ""));
    }
    if (c.n_deferred) lines.push(`${c.n_deferred} skipped: not counted`);
    box.replaceChildren(...lines.map((t) => el("div", t)));
  } catch (err) { box.textContent = err.message; }
}

function onKey(ev) {
  const tag = (ev.target && ev.target.tagName) || "";
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    if (ev.key === "Enter" || ev.key === "Escape") {
      if (ev.target.id === "relabel" && ev.key === "Enter") decide("relabel", ev.target.value);
      ev.target.blur();
      ev.preventDefault();
    }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const item = state.items[state.index];
  const key = ev.key;
  if (key === "k") decide("keep");
  else if (key === "r" && item && item.suggested_label !== null) decide("relabel", item.suggested_label);
  else if (/^[1-9]$/.test(key)) {
    const c = state.session.classes[Number(key) - 1];
    if (c !== undefined) decide("relabel", c);
  } else if (key === "l") document.getElementById("relabel").focus();
  else if (key === "d") decide("drop");
  else if (key === "u") decide("duplicate");
  else if (key === "s") decide("skip");
  else if (key === "n") document.getElementById("note").focus();
  else if (key === "z") undoLast();
  else if (key === "ArrowDown" || key === "ArrowRight" || key === "j") move(1);
  else if (key === "ArrowUp" || key === "ArrowLeft") move(-1);
  else return;
  ev.preventDefault();
}

document.addEventListener("keydown", onKey);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("undo").addEventListener("click", (ev) => { ev.currentTarget.blur(); undoLast(); });
  document.getElementById("stage").addEventListener("change", (ev) => {
    state.stage = ev.target.value;
    if (state.queue) openQueue(state.queue);
  });
  loadSession().catch((err) => status("Could not load: " + err.message));
});
