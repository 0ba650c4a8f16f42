// exprnet serve's page: a clip uploaded to POST /v1/expressions, or the camera and microphone over
// the /v1/live WebSocket (docs/http.md). Plain JavaScript, no build step, nothing from elsewhere.
"use strict";

// one colour per class, in the bundle's class order (the timeline PNG's palette, outputs.py)
const COLOURS = ["#7f7f7f", "#d62728", "#8c564b", "#9467bd", "#ff7f0e", "#1f77b4", "#2ca02c", "#bcbd22"];
const $ = (id) => document.getElementById(id);
const state = { config: {}, clip: null, clipTrack: 0, live: { rows: [], classes: [], errors: [], summary: null } };
window.exprnet = state; // for the browser test and the curious

// the clip's and the live tab's view: one template (index.html), its parts named per tab
for (const slot of document.querySelectorAll("[data-view]")) {
  const view = $("view").content.cloneNode(true), name = slot.dataset.view;
  const ids = Object.fromEntries((slot.dataset.ids || "").split(" ").filter(Boolean).map((p) => p.split(":")));
  for (const el of view.querySelectorAll("[data-part]")) el.id = ids[el.dataset.part] || `${name}-${el.dataset.part}`;
  view.querySelector("video").setAttribute(slot.dataset.video, "");
  view.querySelector("canvas").setAttribute("aria-label", slot.dataset.timeline);
  slot.replaceWith(view);
}

// -- helpers ---------------------------------------------------------------------------------------
function apiKey() { return $("api-key").value.trim(); }

function say(el, text, isError) {
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

function legend(el, classes) {
  el.replaceChildren(...classes.map((c, k) => {
    const s = document.createElement("span");
    const i = document.createElement("i");
    i.style.background = COLOURS[k % COLOURS.length];
    s.append(i, c);
    return s;
  }));
}

function showProbs(el, classes, probs) {
  if (el.children.length !== classes.length) {
    el.replaceChildren(...classes.map((c, k) => {
      const li = document.createElement("li");
      li.innerHTML = '<span class="name"></span><span class="bar"><span></span></span><span class="val"></span>';
      li.querySelector(".name").textContent = c;
      li.querySelector(".bar span").style.background = COLOURS[k % COLOURS.length];
      return li;
    }));
  }
  classes.forEach((c, k) => {
    const li = el.children[k];
    const p = probs ? probs[k] : 0;
    li.querySelector(".bar span").style.width = (100 * p).toFixed(1) + "%";
    li.querySelector(".val").textContent = probs ? p.toFixed(2) : "";
  });
}

// valence/arousal and the active action units of one frame (bundles with those tasks; else hidden)
function showTasks(vaEl, auEl, valence, arousal, active) {
  const hasVa = valence !== undefined && valence !== null;
  vaEl.hidden = !hasVa;
  if (hasVa) {
    const f = (x) => (x >= 0 ? "+" : "") + Number(x).toFixed(2);
    vaEl.innerHTML = "valence <b></b> · arousal <b></b>";
    vaEl.children[0].textContent = f(valence);
    vaEl.children[1].textContent = f(arousal);
  }
  auEl.hidden = !active;
  if (active) auEl.textContent = "action units: " + (active.length ? active.join(" ") : "none active");
}

function sizeCanvas(cv) {
  const r = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(cv.clientWidth * r)), h = Math.max(1, Math.round(cv.clientHeight * r));
  if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
  return [w, h, r];
}

// a timeline: the expression as a coloured band on top, each class's probability as a line below
function drawTimeline(cv, n, xOf, labelOf, probOf, nClasses, cursorX) {
  const [w, h, r] = sizeCanvas(cv);
  const g = cv.getContext("2d");
  g.clearRect(0, 0, w, h);
  if (!n) return;
  const band = 14 * r, top = band + 4 * r, ph = h - top - 2 * r;
  for (let i = 0; i < n; i++) {
    const x0 = xOf(i), x1 = i + 1 < n ? xOf(i + 1) : x0 + Math.max(1, w / Math.max(n, 1));
    g.fillStyle = COLOURS[labelOf(i) % COLOURS.length];
    g.fillRect(x0, 0, Math.max(1, x1 - x0 + 0.5), band);
  }
  g.lineWidth = 1.2 * r;
  for (let k = 0; k < nClasses; k++) {
    g.strokeStyle = COLOURS[k % COLOURS.length];
    g.beginPath();
    for (let i = 0; i < n; i++) {
      const y = top + ph * (1 - probOf(i, k));
      if (i === 0) g.moveTo(xOf(i), y); else g.lineTo(xOf(i), y);
    }
    g.stroke();
  }
  if (cursorX !== null && cursorX !== undefined) {
    g.strokeStyle = "#000";
    g.lineWidth = 1.5 * r;
    g.beginPath(); g.moveTo(cursorX, 0); g.lineTo(cursorX, h); g.stroke();
  }
}

function b64FromBytes(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function download(name, text, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// -- tabs and the key --------------------------------------------------------------------------------
function showTab(name) {
  for (const t of ["clip", "live"]) {
    $("tab-" + t).setAttribute("aria-selected", String(t === name));
    $(t).hidden = t !== name;
  }
}
$("tab-clip").addEventListener("click", () => showTab("clip"));
$("tab-live").addEventListener("click", () => showTab("live"));
$("api-key").value = localStorage.getItem("exprnet-api-key") || "";
$("api-key").addEventListener("change", () => localStorage.setItem("exprnet-api-key", apiKey()));
fetch("/web/config.json").then((r) => r.json()).then((c) => {
  state.config = c;
  $("key-box").hidden = !c.api_key_required;
}).catch(() => { $("key-box").hidden = false; });

// -- clip ------------------------------------------------------------------------------------------------
function upload(file) {
  const status = $("clip-status"), bar = $("upload-progress");
  const max = state.config.max_upload_mb;
  if (max && file.size > max * 1048576) {
    say(status, `${file.name}: ${(file.size / 1048576).toFixed(1)} MiB, larger than the server's ${max} MiB`, true);
    return;
  }
  $("clip-result").hidden = true;
  bar.hidden = false; bar.removeAttribute("value");
  say(status, `uploading ${file.name} ...`);
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/expressions");
  if (apiKey()) xhr.setRequestHeader("X-API-Key", apiKey());
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    bar.value = e.loaded / e.total;
    say(status, `uploading ${file.name}: ${Math.round(100 * e.loaded / e.total)}%`);
  };
  xhr.upload.onload = () => { bar.removeAttribute("value"); say(status, `${file.name}: computing expressions ...`); };
  xhr.onerror = () => { bar.hidden = true; say(status, `${file.name}: the server could not be reached`, true); };
  xhr.onload = () => {
    bar.hidden = true;
    let doc = null;
    try { doc = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status !== 200 || !doc) {
      const why = doc && doc.detail ? doc.detail : `HTTP ${xhr.status}`;
      say(status, `${file.name}: ${why}`, true);
      if (xhr.status === 401) $("key-box").hidden = false;
      return;
    }
    showClip(file, doc);
  };
  xhr.send(form);
}

function showClip(file, doc) {
  state.clip = doc;
  state.clipTrack = 0;
  const n = doc.tracks.reduce((a, t) => a + t.frames.length, 0);
  const warn = doc.warnings && doc.warnings.length ? " · " + doc.warnings.join(" · ") : "";
  say($("clip-status"), `${doc.video}: ${doc.tracks.length} person(s), ${n} frames in ${doc.timing.total.toFixed(1)} s${warn}`);
  const sel = $("clip-track");
  sel.replaceChildren(...doc.tracks.map((t, k) => new Option(t.track, String(k))));
  $("clip-track-box").hidden = doc.tracks.length < 2;
  const v = $("clip-video");
  if (v.src) URL.revokeObjectURL(v.src);
  v.src = URL.createObjectURL(file);
  legend($("clip-legend"), doc.classes);
  $("clip-result").hidden = false;
  $("clip-timeline").dataset.frames = String(doc.tracks[0].frames.length);
  syncClip();
}

function clipIndex(track, t) { // the last frame shown at time t (binary search over presentation times)
  let lo = 0, hi = track.time.length - 1;
  if (hi < 0 || t < track.time[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (track.time[mid] <= t + 1e-4) lo = mid; else hi = mid - 1;
  }
  return lo;
}

function syncClip() {
  const doc = state.clip;
  if (!doc) return;
  const track = doc.tracks[state.clipTrack];
  const v = $("clip-video"), n = track.frames.length;
  const i = clipIndex(track, v.currentTime);
  const hasExpr = !!track.expression;
  $("clip-expression").textContent = hasExpr ? track.expression[i] : "–";
  const face = track.face ? (track.face[i] ? "face found" : "no face (filled)") : "";
  $("clip-frame").textContent = `frame ${track.frames[i]} of ${n} · ${track.time[i].toFixed(2)} s ${face ? "· " + face : ""}`;
  $("clip-probs").hidden = !hasExpr;
  if (hasExpr) showProbs($("clip-probs"), doc.classes, track.probabilities[i]);
  const active = track.au ? doc.action_units.filter((a, k) => track.au[i][k]) : null;
  showTasks($("clip-va"), $("clip-aus"), track.valence ? track.valence[i] : null, track.arousal ? track.arousal[i] : null, active);
  const cv = $("clip-timeline");
  const w = sizeCanvas(cv)[0];
  const ci = doc.classes;
  if (hasExpr) drawTimeline(cv, n, (j) => w * j / n, (j) => ci.indexOf(track.expression[j]),
    (j, k) => track.probabilities[j][k], ci.length, w * (i + 0.5) / n);
  else drawTimeline(cv, n, (j) => w * j / n, () => 0, (j, k) => (1 + (k ? track.arousal[j] : track.valence[j])) / 2,
    track.valence ? 2 : 0, w * (i + 0.5) / n); // VA only: valence and arousal as lines ([-1, 1])
}

function clipLoop() {
  syncClip();
  const v = $("clip-video");
  if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(clipLoop);
  else if (!v.paused) requestAnimationFrame(clipLoop);
}
$("clip-video").addEventListener("play", clipLoop);
$("clip-video").addEventListener("seeked", syncClip);
$("clip-video").addEventListener("loadeddata", syncClip);
$("clip-track").addEventListener("change", (e) => { state.clipTrack = Number(e.target.value); syncClip(); });
$("clip-timeline").addEventListener("click", (e) => {
  const doc = state.clip;
  if (!doc) return;
  const track = doc.tracks[state.clipTrack];
  const j = Math.min(track.frames.length - 1, Math.floor(track.frames.length * e.offsetX / e.target.clientWidth));
  $("clip-video").currentTime = track.time[j] + 1e-3;
});
window.addEventListener("resize", () => { syncClip(); drawLive(); });

$("file").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
});

function clipCsv(doc) { // the columns `exprnet infer` writes; a leading track column for two people
  const many = doc.tracks.length > 1;
  const t0 = doc.tracks[0] || {}, expr = !!t0.expression, va = !!t0.valence, au = !!t0.au;
  const aus = doc.action_units || [];
  const head = [...(many ? ["track"] : []), "frame", "time", ...(expr ? ["expression"] : []), "face",
    ...(expr ? doc.classes : []), ...(va ? ["valence", "arousal"] : []), ...(au ? aus.map((a) => a + "_prob") : []),
    ...(au ? aus : [])];
  const g = (x) => Number(Number(x).toPrecision(7));
  const lines = [head.join(",")];
  for (const t of doc.tracks) {
    t.frames.forEach((f, i) => {
      const face = t.face ? String(t.face[i]) : "";
      lines.push([...(many ? [t.track] : []), f, t.time[i].toFixed(6), ...(expr ? [t.expression[i]] : []), face,
        ...(expr ? t.probabilities[i].map(g) : []), ...(va ? [g(t.valence[i]), g(t.arousal[i])] : []),
        ...(au ? t.au_probabilities[i].map(g) : []), ...(au ? t.au[i] : [])].join(","));
    });
  }
  return lines.join("\n") + "\n";
}
const stem = () => state.clip.video.replace(/\.[^.]*$/, "");
$("download-csv").addEventListener("click", () => download(stem() + ".csv", clipCsv(state.clip), "text/csv"));
$("download-json").addEventListener("click", () => download(stem() + ".json", JSON.stringify(state.clip), "application/json"));

// -- live ------------------------------------------------------------------------------------------------
const live = { ws: null, stream: null, timer: null, audio: null, t0: 0, sent: 0, skipped: 0, decided: 0, fps: 10 };
const AUDIO_RATE = 16000; // what the live engine reads (docs/http.md)
const WINDOW_S = 20; // the scrolling timeline's width
const KEEP = 3000; // rows kept for the timeline (the page's memory stays flat)

function drawLive() {
  const rows = state.live.rows, cls = state.live.classes;
  const cv = $("live-timeline");
  const w = sizeCanvas(cv)[0];
  if (!rows.length) { cv.getContext("2d").clearRect(0, 0, cv.width, cv.height); return; }
  const last = rows[rows.length - 1], end = Math.max(WINDOW_S, last.time);
  const shown = rows.filter((r) => r.time >= end - WINDOW_S && r.track === last.track); // one person's
  drawTimeline(cv, shown.length, (j) => w * (shown[j].time - (end - WINDOW_S)) / WINDOW_S,
    (j) => cls.indexOf(shown[j].expression), (j, k) => Number(shown[j][cls[k]]), cls.length, null);
}

function onLiveMessage(ev) {
  const m = JSON.parse(ev.data);
  const L = state.live;
  if (m.type === "ready") {
    L.classes = m.classes;
    L.ready = m;
    legend($("live-legend"), m.classes);
    say($("live-status"), `live: ${m.classes.length} classes, lookahead ${Number(m.lookahead_s).toFixed(2)} s`);
    startCapture();
  } else if (m.type === "row") {
    L.rows.push(m);
    if (L.rows.length > KEEP) L.rows.splice(0, L.rows.length - KEEP);
    live.decided = Math.max(live.decided, Number(m.frame) || 0);
    $("live-expression").textContent = m.expression === undefined ? "–" : m.expression;
    const who = m.track ? `${m.track} · ` : "";
    $("live-info").textContent = `${who}frame ${m.frame} · ${Number(m.time).toFixed(2)} s · latency ${Math.round(m.latency_ms)} ms · dropped ${m.dropped}` +
      (live.skipped ? ` · not sent ${live.skipped}` : "");
    const tasks = (L.ready && L.ready.tasks) || ["expr"];
    $("live-probs").hidden = !tasks.includes("expr");
    if (tasks.includes("expr")) showProbs($("live-probs"), L.classes, L.classes.map((c) => Number(m[c])));
    const active = tasks.includes("au") ? Object.keys(m).filter((k) => /^AU\d+$/.test(k) && Number(m[k]) === 1) : null;
    showTasks($("live-va"), $("live-aus"), tasks.includes("va") ? m.valence : null, m.arousal, active);
    if (tasks.includes("expr")) drawLive();
  } else if (m.type === "error") {
    L.errors.push(m.message);
    say($("live-status"), m.message, true);
  } else if (m.type === "summary") {
    L.summary = m;
    const s = $("live-summary");
    s.hidden = false;
    s.textContent = JSON.stringify(m, null, 2);
  }
}

async function liveStart() {
  const status = $("live-status");
  state.live = { rows: [], classes: [], errors: [], summary: null };
  $("live-summary").hidden = true;
  live.fps = Number($("live-fps").value);
  const wantAudio = $("live-audio").checked;
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: wantAudio });
  } catch (e) {
    say(status, `camera/microphone: ${e.name}: ${e.message} (allow the page to use them; a page not on localhost needs https)`, true);
    return;
  }
  $("live-video").srcObject = live.stream;
  let rate = null;
  if (wantAudio && live.stream.getAudioTracks().length) {
    try { live.audio = new AudioContext({ sampleRate: AUDIO_RATE }); } catch (e) { live.audio = new AudioContext(); }
    rate = AUDIO_RATE; // the worklet resamples when the context runs at another rate
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ fps: String(live.fps) });
  if (rate) q.set("sample_rate", String(rate));
  if (apiKey()) q.set("api_key", apiKey());
  live.ws = new WebSocket(`${proto}//${location.host}/v1/live?${q}`);
  live.ws.onmessage = onLiveMessage;
  live.ws.onclose = (e) => {
    const normal = e.code === 1000;
    if (!normal) say(status, `live connection closed (${e.code}${e.reason ? ": " + e.reason : ""})`, true);
    else say(status, `live session ended: ${state.live.rows.length} rows`);
    if (e.code === 1008 && /API key/.test(e.reason)) $("key-box").hidden = false;
    stopDevices();
  };
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  say(status, "connecting ...");
}

async function startCapture() {
  live.t0 = performance.now();
  live.sent = 0; live.skipped = 0; live.decided = 0;
  const v = $("live-video"), canvas = document.createElement("canvas");
  live.timer = setInterval(() => {
    const ws = live.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !v.videoWidth) return;
    const ahead = Math.ceil((Number(state.live.ready.lookahead_s) || 0) * live.fps) + 2 * live.fps;
    if (live.sent - live.decided > ahead || ws.bufferedAmount > 2e6) { live.skipped++; return; }
    const scale = Math.min(1, 640 / v.videoWidth);
    canvas.width = Math.round(v.videoWidth * scale);
    canvas.height = Math.round(v.videoHeight * scale);
    canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
    const jpeg = canvas.toDataURL("image/jpeg", 0.8).split(",")[1];
    const t = (performance.now() - live.t0) / 1000;
    ws.send(JSON.stringify({ type: "frame", t, jpeg }));
    live.sent++;
    if (!state.live.rows.length) $("live-info").textContent = `${live.sent} frames sent, none decided yet (rows come once a face is seen)`;
  }, 1000 / live.fps);
  if (live.audio && !state.live.ready.sample_rate) { // the bundle hears nothing: the microphone stays off
    live.audio.close(); live.audio = null;
  }
  if (live.audio) {
    try {
      await live.audio.audioWorklet.addModule("/web/pcm-worklet.js");
      const src = live.audio.createMediaStreamSource(live.stream);
      const rate = AUDIO_RATE, chunk = rate / 10; // 100 ms per message
      const tap = new AudioWorkletNode(live.audio, "pcm-tap", { processorOptions: { chunk, rate } });
      const tStart = (performance.now() - live.t0) / 1000;
      let samples = 0;
      tap.port.onmessage = (e) => {
        const ws = live.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN) return;
        const pcm = b64FromBytes(new Uint8Array(e.data.buffer));
        ws.send(JSON.stringify({ type: "audio", t: tStart + samples / rate, rate, pcm }));
        samples += e.data.length;
      };
      src.connect(tap);
      live.tap = tap;
    } catch (e) {
      say($("live-status"), `microphone: ${e.message}; going on without audio`, true);
    }
  }
}

function stopDevices() {
  clearInterval(live.timer); live.timer = null;
  if (live.tap) { live.tap.port.onmessage = null; live.tap.disconnect(); live.tap = null; }
  if (live.audio) { live.audio.close(); live.audio = null; }
  if (live.stream) { live.stream.getTracks().forEach((t) => t.stop()); live.stream = null; }
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

function liveStop() {
  const ws = live.ws;
  clearInterval(live.timer); live.timer = null;
  if (live.tap) { live.tap.port.onmessage = null; }
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "end" }));
    say($("live-status"), "finishing: the last frames and the summary ...");
  } else stopDevices();
  $("live-stop").disabled = true;
}
$("live-start").addEventListener("click", liveStart);
$("live-stop").addEventListener("click", liveStop);
