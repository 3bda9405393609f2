function boxTarget() {
  // a detection audit: the label is the image's boxes; r takes the suggested boxes, l edits the
  // given boxes as JSON in the box (Enter records them); digit keys pick no class here
  typedTarget("detection", {
    hint: 'the image\'s boxes as JSON, [["class", x, y, width, height], ...]; Enter records them',
    relabel: "new boxes (JSON)", classes: "Box classes", r: "set the suggested boxes",
    l: "edit the boxes as JSON in the box (Enter records them)",
  });
}

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
// sets: the duplicate sets of the open queue's page, by set id (every member, side by side)
const state = { session: null, queue: null, stage: "review", items: [], sets: {}, index: 0, pending: 0, saved: 0 };

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

let imageUrls = [];

function dropImages() {
  // the blob: URLs of the item shown before (its image, or its duplicate set's images)
  for (const url of imageUrls) URL.revokeObjectURL(url);
  imageUrls = [];
}

async function blobUrl(path, node) {
  // <img src> cannot send the token: fetch the image with it and return a blob: URL for it, or
  // null when the server has none (or when node left the page meanwhile: another item is shown)
  const res = await fetch(path, { headers: AUTH });
  if (!res.ok) return null;
  const url = URL.createObjectURL(await res.blob());
  if (!node.isConnected) { URL.revokeObjectURL(url); return null; }
  imageUrls.push(url);
  return url;
}

async function showBlob(img, path, missing) {
  const url = await blobUrl(path, img);
  if (url) img.src = url;
  else if (img.isConnected) img.alt = missing;
}

function showImage(img, rowId) {
  return showBlob(img, `/api/rows/${encodeURIComponent(rowId)}/image`, "image not available for row " + rowId);
}

// Longest side, in CSS pixels, of a pixel row's thumbnail: on the item, on a duplicate set's
// card, in the nearest rows list.
const THUMB = { item: 128, card: 64, neighbour: 32 };

function thumbnail(row, rowId, pixels, side) {
  // a row of pixel columns as an image: the server's grey PNG at the image's own resolution,
  // scaled up by a whole factor with nearest-neighbour (8x8 -> 128x128), never blurred
  const img = document.createElement("img");
  const longest = Math.max(pixels.height, pixels.width);
  const k = longest <= side ? Math.floor(side / longest) : side / longest;
  img.width = Math.max(1, Math.round(pixels.width * k));
  img.height = Math.max(1, Math.round(pixels.height * k));
  img.className = "thumb" + (k < 1 ? " smooth" : "");
  img.alt = `row ${rowId} (${pixels.height}x${pixels.width} pixels)`;
  showBlob(img, `/api/thumbnails/${encodeURIComponent(row)}.png`, "image not available for row " + rowId)
    .catch(() => { img.alt = "image not available"; });
  return img;
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
  if (s.task === "regression") numericTarget();
  if (s.task === "multilabel") labelSetTarget();
  if (s.task === "tokens") tokenTarget();
  if (s.task === "detection") boxTarget();
  const select = document.getElementById("relabel");
  classes.replaceChildren();
  select.replaceChildren();
  s.classes.forEach((c, i) => {
    const li = el("li", c);
    if (i < 9 && s.task !== "tokens" && s.task !== "detection") li.title = "key " + (i + 1);
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

function numericTarget() {
  // a regression audit: the label is a number, typed (or the suggestion taken), not a class
  document.body.dataset.task = "regression";
  typedBox("the new value; Enter records it").inputMode = "decimal";
  document.getElementById("relabel-text").textContent = "new value";
  document.getElementById("classes-title").hidden = true;
  document.getElementById("classes").hidden = true;
  document.getElementById("key-digits").hidden = true;
  document.querySelector("#key-r td:last-child").textContent = "set the suggested value";
  document.querySelector("#key-l td:last-child").textContent = "type a new value (Enter records it)";
}

function typedBox(title) {
  // the relabel control as a text box (a number, or a label set), replacing the class list
  const select = document.getElementById("relabel");
  if (select.tagName === "SELECT") {
    const input = document.createElement("input");
    input.id = "relabel";
    input.autocomplete = "off";
    input.title = title;
    select.replaceWith(input);
  }
  return document.getElementById("relabel");
}

function typedTarget(task, texts) {
  // a task whose label is typed in a text box (a label set, tags, boxes): the box's hint, the
  // relabel caption, the key table's words; digit keys only where texts.digits says what they do
  document.body.dataset.task = task;
  typedBox(texts.hint);
  document.getElementById("relabel-text").textContent = texts.relabel;
  if (texts.classes) document.getElementById("classes-title").textContent = texts.classes;
  const digits = document.getElementById("key-digits");
  if (texts.digits) digits.querySelector("td:last-child").textContent = texts.digits;
  else digits.hidden = true;
  document.querySelector("#key-r td:last-child").textContent = texts.r;
  document.querySelector("#key-l td:last-child").textContent = texts.l;
}

function labelSetTarget() {
  // a multi-label audit: the label is a set of classes; digits toggle class n in the box
  typedTarget("multilabel", {
    hint: "the new label set: classes separated by commas; Enter records it",
    relabel: "new label set", r: "set the suggested label set",
    digits: "add or remove class n in the box (list below)",
    l: "edit the set in the box (Enter records it)",
  });
}

function tokenTarget() {
  // a tokens audit: the label is one tag per token of the sentence; r takes the suggested tags,
  // l edits the given tags in the box (Enter records them); digit keys pick no class here
  typedTarget("tokens", {
    hint: "the sentence's tags, one per token, separated by spaces; Enter records them",
    relabel: "new tags", classes: "Tags", r: "set the suggested tags",
    l: "edit the tags in the box, one per token (Enter records them)",
  });
}

function tokenPanel(t) {
  // the sentence token by token, each tag beneath it; a changed token is marked and shows
  // "given → suggested"
  const panel = el("div", null, "tokens");
  panel.id = "tokens";
  const changed = new Set(t.changed);
  t.given.forEach((tag, i) => {
    const tok = el("span", null, "tok" + (changed.has(i) ? " changed" : ""));
    tok.dataset.pos = String(i);
    tok.appendChild(el("span", t.tokens ? t.tokens[i] : "#" + i, "word"));
    const under = el("span", null, "tag");
    if (changed.has(i)) {
      under.appendChild(el("span", tag, "from"));
      under.appendChild(document.createTextNode(" → "));
      under.appendChild(el("span", t.suggested[i], "to"));
      tok.title = `token ${i}: given ${tag}, suggested ${t.suggested[i]}`;
    } else under.textContent = tag;
    tok.appendChild(under);
    panel.appendChild(tok);
  });
  return panel;
}

function boxTarget() {
  // a detection audit: the label is the image's boxes; r takes the suggested boxes, l edits the
  // given boxes as JSON in the box (Enter records them); digit keys pick no class here
  document.body.dataset.task = "detection";
  typedBox('the image\'s boxes as JSON, [["class", x, y, width, height], ...]; Enter records them');
  document.getElementById("relabel-text").textContent = "new boxes (JSON)";
  document.getElementById("classes-title").textContent = "Box classes";
  document.getElementById("key-digits").hidden = true;
  document.querySelector("#key-r td:last-child").textContent = "set the suggested boxes";
  document.querySelector("#key-l td:last-child").textContent = "edit the boxes as JSON in the box (Enter records them)";
}

// Longest side, in CSS pixels, of an image drawn with its boxes.
const BOX_SIDE = 384;
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, cls) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (cls) node.setAttribute("class", cls);
  return node;
}

function boxCount(boxes) {
  return boxes.length + (boxes.length === 1 ? " box" : " boxes");
}

function drawBoxes(layer, boxes, changed, kind, unit) {
  // one layer of boxes: each [class, x, y, width, height] outlined, its class written beside it
  // (the given ones above the box, the suggested ones below it); a changed box is drawn thicker
  const marked = new Set(changed);
  boxes.forEach((b, i) => {
    const [name, x, y, w, h] = b;
    const hot = marked.has(i);
    const g = svgEl("g", { "data-index": i, "data-class": name }, `box ${kind}` + (hot ? " changed" : ""));
    const rect = svgEl("rect", { x, y, width: w, height: h, "stroke-width": (hot ? 3 : 1.5) * unit });
    if (kind === "suggested") rect.setAttribute("stroke-dasharray", `${5 * unit} ${3 * unit}`);
    g.appendChild(svgEl("title")).textContent = `${kind} ${name} [${x}, ${y}, ${w}, ${h}]` + (hot ? " (changed)" : "");
    g.appendChild(rect);
    if (kind === "given" || hot) {  // an unchanged suggested box is the given one: named once
      const text = svgEl("text", { x: x + unit, y: kind === "given" ? y - 2 * unit : y + h + 11 * unit,
                                    "font-size": 11 * unit, "stroke-width": 3 * unit }, "name");
      text.textContent = name;
      g.appendChild(text);
    }
    layer.appendChild(g);
  });
}

function boxPanel(item, b) {
  // the image with its given boxes (solid) and the suggested ones (dashed), the boxes the
  // suggestion changes drawn thicker; a blank canvas of the image's size when its file is not
  // available; a legend, and the changes in words beneath
  const panel = el("figure", null, "boxview");
  panel.id = "boxview";
  const side = Math.max(b.width, b.height, 1);
  const unit = side / BOX_SIDE;  // one CSS pixel, in image pixels
  const pad = 14 * unit;  // room for the class names of the boxes at the border
  const svg = svgEl("svg", { viewBox: `${-pad} ${-pad} ${b.width + 2 * pad} ${b.height + 2 * pad}`,
                             width: Math.round((b.width + 2 * pad) / unit),
                             height: Math.round((b.height + 2 * pad) / unit), role: "img" });
  svg.setAttribute("aria-label", `row ${item.row_id}: ${boxCount(b.given)} given, ${boxCount(b.suggested)} suggested`);
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: b.width, height: b.height }, "blank"));
  const note = el("div", null, "boxnote");
  if (item.image) {
    const photo = svgEl("image", { x: 0, y: 0, width: b.width, height: b.height, preserveAspectRatio: "none" }, "photo");
    svg.appendChild(photo);
    blobUrl(`/api/rows/${encodeURIComponent(item.row_id)}/image`, photo).then((url) => {
      if (url) { photo.setAttribute("href", url); panel.dataset.image = "shown"; }
      else if (photo.isConnected) {
        note.textContent = `image not available: the boxes are drawn on a blank ${b.width}×${b.height} canvas`;
        panel.dataset.image = "missing";
      }
    }).catch(() => { note.textContent = "image not available"; });
  } else {
    note.textContent = `no image file for this row: the boxes are drawn on a blank ${b.width}×${b.height} canvas`;
    panel.dataset.image = "none";
  }
  const given = svgEl("g", null, "layer given");
  drawBoxes(given, b.given, b.changed_given, "given", unit);
  const suggested = svgEl("g", null, "layer suggested");
  drawBoxes(suggested, b.suggested, b.changed_suggested, "suggested", unit);
  svg.appendChild(given);
  svg.appendChild(suggested);
  panel.appendChild(svg);
  const legend = el("figcaption", null, "legend");
  for (const [cls, text] of [["given", "given box"], ["suggested", "suggested box"],
                             ["changed", "changed by the suggestion (thicker)"]]) {
    const item = el("span", null, "key " + cls);
    item.appendChild(el("span", null, "swatch"));
    item.appendChild(document.createTextNode(text));
    legend.appendChild(item);
  }
  panel.appendChild(legend);
  panel.appendChild(note);
  const changes = el("div", b.changes || "no change suggested", "boxchanges");
  changes.id = "box-changes";
  panel.appendChild(changes);
  return panel;
}

function toggleClass(name) {
  const box = document.getElementById("relabel");
  const parts = box.value.split(",").map((t) => t.trim()).filter((t) => t);
  const at = parts.indexOf(name);
  if (at >= 0) parts.splice(at, 1); else parts.push(name);
  box.value = parts.join(", ");
  status(`label set in the box: {${box.value}} (Enter in the box, or r for the suggestion)`);
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
  state.sets = data.sets || {};
  if (rowId !== undefined) {  // back to this row (after an undo)
    const at = state.items.findIndex((it) => it.row_id === rowId);
    if (at >= 0) state.index = at;
  }
  renderQueues();
  renderItem();
}

function itemSet(item) {
  // the duplicate set the item belongs to (duplicates queue), or null
  if (!item || !item.evidence || item.evidence.duplicate_set === undefined) return null;
  return state.sets[String(item.evidence.duplicate_set)] || null;
}

function decisionText(d) {
  return d.action + (d.new_label ? " → " + d.new_label : "") + (d.duplicate_of ? " of row " + d.duplicate_of : "")
    + " by " + d.reviewer + (d.note ? " (" + d.note + ")" : "")
    + (d.carried_from ? " on an earlier version (run " + d.carried_from + "; the row has not changed since)" : "");
}

function renderItem() {
  const box = document.getElementById("item");
  box.replaceChildren();
  dropImages();
  const item = state.items[state.index];
  if (!item) { box.appendChild(el("p", "Nothing to review in this queue.", "empty")); return; }
  box.dataset.rowId = item.row_id;
  box.appendChild(el("div", `${state.queue} · item ${state.index + 1} of ${state.items.length} · row ${item.row_id}`));
  const labels = el("div", null, "labels");
  const shown = (text, boxes) => (item.boxes ? boxCount(item.boxes[boxes]) : text);
  labels.appendChild(el("span", "given: "));
  labels.appendChild(el("b", shown(item.given_label, "given"), "given"));
  if (item.suggested_label !== null && item.suggested_label !== item.given_label) {
    labels.appendChild(el("span", "  suggested: "));
    labels.appendChild(el("b", shown(item.suggested_label, "suggested"), "suggested"));
  }
  box.appendChild(labels);
  if (state.session.task === "regression" || state.session.task === "multilabel") {
    document.getElementById("relabel").value = item.suggested_label || "";
  }
  if (state.session.task === "tokens" || state.session.task === "detection") {
    document.getElementById("relabel").value = item.given_label || "";
  }
  if (item.token_tags) box.appendChild(tokenPanel(item.token_tags));
  if (item.label_set && (item.label_set.add.length || item.label_set.remove.length)) {
    const change = el("div", null, "setchange");
    if (item.label_set.add.length) change.appendChild(el("span", "add: " + item.label_set.add.join(", "), "add"));
    if (item.label_set.remove.length) change.appendChild(el("span", "  remove: " + item.label_set.remove.join(", "), "remove"));
    box.appendChild(change);
  }
  if (item.decision) {
    const tag = el("div", "decided: " + decisionText(item.decision), "decided");
    tag.id = "decided";
    box.appendChild(tag);
  }
  const set = itemSet(item);
  if (set) box.appendChild(setPanel(item, set));  // the sample itself is on its card
  else if (item.boxes) box.appendChild(boxPanel(item, item.boxes));  // the image, drawn with its boxes
  else {
    if (item.image) {
      const img = document.createElement("img");
      img.alt = "row " + item.row_id;
      box.appendChild(img);
      showImage(img, item.row_id).catch(() => { img.alt = "image not available"; });
    }
    if (item.pixels) box.appendChild(thumbnail(item.row, item.row_id, item.pixels, THUMB.item));
    if (item.text !== null && !item.token_tags) box.appendChild(el("div", item.text, "text"));
  }
  const table = el("table", null, "fields");
  for (const [k, v] of Object.entries(Object.assign({}, item.scores, set ? {} : item.fields))) {
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
      if (item.pixels) {  // the neighbours are rows of the same table: images too
        const td = el("td");
        td.appendChild(thumbnail(n.row, n.row_id, item.pixels, THUMB.neighbour));
        tr.appendChild(td);
      }
      tr.appendChild(el("td", n.row_id));
      tr.appendChild(el("td", n.label));
      tr.appendChild(el("td", n.distance));
      nb.appendChild(tr);
    }
    box.appendChild(nb);
  }
  if (item.annotators) box.appendChild(votesPanel(item.annotators));
}

function setPanel(item, set) {
  // every member of the item's duplicate set as a card, side by side; the values that differ
  // between the members are marked; each card can be the one kept (the others: its duplicates)
  const panel = el("section", null, "dupset");
  panel.id = "dupset";
  let head = `duplicate set ${item.evidence.duplicate_set}: ${set.members.length} rows side by side`;
  if (set.decided) head += set.kept.length === 1 ? ` · decided: row ${set.kept[0]} kept` : " · decided";
  panel.appendChild(el("h3", head));
  if (set.pixels_differ !== null && set.pixels_differ !== undefined) {
    // the pixel columns are drawn, not listed: say whether the images are the same
    panel.appendChild(el("div", set.pixels_differ === 0 ? `identical images (all ${set.n_pixels} pixels)`
      : `${set.pixels_differ} of ${set.n_pixels} pixels differ`, "pixels-differ" + (set.pixels_differ ? " differs" : "")));
  }
  const cards = el("div", null, "cards");
  set.cards.forEach((card, i) => {
    const c = el("div", null, "card");
    c.dataset.rowId = card.row_id;
    if (card.row_id === item.row_id) c.classList.add("focused");
    const d = card.decision;
    if (d) c.classList.add(d.action === "keep" ? "kept" : ["duplicate", "drop"].includes(d.action) ? "dropped" : "marked");
    c.appendChild(el("div", `${i + 1} · row ${card.row_id}`, "card-head"));
    const label = el("div", null, "card-label" + (set.label_differs ? " differs" : ""));
    label.appendChild(el("span", "label: "));
    label.appendChild(el("b", card.label));
    c.appendChild(label);
    if (d) c.appendChild(el("div", decisionText(d), "card-decision"));
    if (card.image) {
      const img = document.createElement("img");
      img.alt = "row " + card.row_id;
      c.appendChild(img);
      showImage(img, card.row_id).catch(() => { img.alt = "image not available"; });
    }
    if (card.pixels) c.appendChild(thumbnail(card.row, card.row_id, card.pixels, THUMB.card));
    if (card.text !== null) c.appendChild(el("div", card.text, "text" + (set.text_differs ? " differs" : "")));
    const fields = el("table", null, "fields");
    for (const [k, v] of Object.entries(card.fields)) {
      const tr = el("tr", null, set.differs.includes(k) ? "differs" : "");
      tr.appendChild(el("td", k));
      tr.appendChild(el("td", v));
      fields.appendChild(tr);
    }
    c.appendChild(fields);
    const others = set.members.length - 1;
    const keep = el("button", "keep only this", "keep-one");
    keep.type = "button";
    keep.title = `keep row ${card.row_id}, record the other ${others} as its duplicates` +
                 (card.row_id === item.row_id ? " (key o)" : "");
    keep.addEventListener("click", (ev) => { ev.stopPropagation(); ev.currentTarget.blur(); keepOne(card.row_id); });
    c.appendChild(keep);
    c.addEventListener("click", () => focusRow(card.row_id));
    cards.appendChild(c);
  });
  panel.appendChild(cards);
  return panel;
}

function focusRow(rowId) {
  // a click on a card: that member becomes the current item (the keys act on it)
  const at = state.items.findIndex((it) => it.row_id === rowId);
  if (at >= 0 && at !== state.index) { state.index = at; renderItem(); }
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
  const set = itemSet(item);
  if (action === "duplicate" && item.evidence && item.evidence.members) {
    // a copy of the member kept already, else of the first other member
    const kept = set ? set.kept.find((m) => m !== item.row_id) : undefined;
    const other = kept !== undefined ? kept : item.evidence.members.find((m) => m !== item.row_id);
    if (other !== undefined) payload.duplicate_of = other;
  }
  state.pending += 1;
  try {
    const res = await postDecision(payload);
    item.decision = { action, new_label: newLabel || null, duplicate_of: payload.duplicate_of || null,
                      reviewer: who, note: payload.note, decision_id: res.decision_id };
    noteInput.value = "";
    if (set) markCard(set, item.row_id, item.decision);
    if (state.items[state.index] === item) {
      if (set && set.decided) skipSet(item);  // the set is decided: on to the next one
      else move(1);
    }
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

function markCard(set, rowId, decision) {
  // a member decided on its own: its card shows it, and the set is decided once all are
  const card = set.cards.find((c) => c.row_id === rowId);
  if (card) card.decision = decision;
  set.decided = set.cards.every((c) => c.decision);
  set.kept = set.cards.filter((c) => c.decision && c.decision.action === "keep").map((c) => c.row_id);
}

function nextSetIndex(item) {
  // the first item after this one in another duplicate set (the queue lists sets one by one)
  const group = item.evidence.duplicate_set;
  return state.items.findIndex((it, i) => i > state.index && (!it.evidence || it.evidence.duplicate_set !== group));
}

function skipSet(item) {
  const next = nextSetIndex(item);
  if (next >= 0) { state.index = next; renderItem(); } else move(1);
}

async function keepOne(keptId) {
  // keep one member of the set, record every other member as its duplicate: one batch, stored
  // whole or not at all, which one undo (z) takes back whole
  const item = state.items[state.index];
  const set = itemSet(item);
  if (!set) { status("Keep only this (o) works in the duplicates queue, on a duplicate set."); return; }
  if (!set.members.includes(keptId)) return;
  const who = reviewer();
  if (!who) { status("Enter your name as reviewer first."); document.getElementById("reviewer").focus(); return; }
  localStorage.setItem("assay-reviewer", who);
  const noteInput = document.getElementById("note");
  const decisions = [{ row_id: keptId, action: "keep" }].concat(set.members.filter((m) => m !== keptId)
    .map((m) => ({ row_id: m, action: "duplicate", duplicate_of: keptId })));
  const payload = { decisions, queue: state.queue, reviewer: who, stage: state.stage, note: noteInput.value || null };
  const next = nextSetIndex(item);
  const target = next >= 0 ? state.items[next].row_id : keptId;
  state.pending += 1;
  try {
    let res;
    try { res = await postDecision(payload); } catch (err) { status("Not saved: " + err.message); return; }
    noteInput.value = "";
    try {  // the cards' marks and the progress come back from the server
      state.session = await getJSON("/api/session");
      await openQueue(state.queue, target);
    } catch (err) { /* saved; the page refreshes with the next action */ }
    state.saved += 1;
    document.body.dataset.saved = String(state.saved);
    status(`Saved ${res.decision_ids.length} decisions: row ${keptId} kept, ${decisions.length - 1} ` +
           `marked as its duplicates (z takes back all of them).`);
    loadAgreement();
    loadSpotCheck();
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
    if (res.undone_batch) {
      status(`Undid ${res.undone_batch.length} decisions made together (rows ` +
             res.undone_batch.map((b) => b.row_id).join(", ") + ").");
    } else {
      status(`Undid decision ${u.decision_id}: ${u.action}${u.new_label ? " → " + u.new_label : ""} on row ${u.row_id}` +
             (res.in_force ? ` (in force again: ${res.in_force.action})` : "") + ".");
    }
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
      const band = (c.estimated_precision_low !== null && c.estimated_precision_high !== null)
        ? ` (plausibly ${(c.estimated_precision_low * 100).toFixed(0)}-` +
          `${(c.estimated_precision_high * 100).toFixed(0)} %)` : "";
      lines.push(`audit's estimate ${(c.estimated_precision * 100).toFixed(0)} %` +
                 (c.estimates_reliable === false ? " (unreliable)" : band));
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
    if (c !== undefined && state.session.task === "tokens") {
      status("Digit keys pick a class; a sentence takes one tag per token: press l, edit the tags, Enter.");
    } else if (c !== undefined && state.session.task === "detection") {
      status("Digit keys pick a class; an image's label is its boxes: press r for the suggested boxes, or l to edit them as JSON, Enter.");
    } else if (c !== undefined && state.session.task === "multilabel") toggleClass(c);
    else if (c !== undefined) decide("relabel", c);
  } else if (key === "l") document.getElementById("relabel").focus();
  else if (key === "d") decide("drop");
  else if (key === "u") decide("duplicate");
  else if (key === "o" && item) keepOne(item.row_id);
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
