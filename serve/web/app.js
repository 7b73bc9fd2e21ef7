// fovea serve: click-to-segment with Segment Anything.
// The image is uploaded once (POST /api/embed) and its embedding computed on the server;
// every click, shift/right-click or dragged box then asks POST /api/predict for masks,
// drawn on #mask-canvas over the image. See docs/serve.md for the API.
"use strict";

const $ = (id) => document.getElementById(id);

// state is the page's state; window.fovea exposes it to tests and the console.
const state = {
  imageId: null,
  width: 0,
  height: 0,
  points: [],       // {x, y, label}
  box: null,        // [x0, y0, x1, y1]
  history: [],      // earlier {points, box} for undo
  result: null,     // the last PromptResult: {masks, best}
  selected: 0,      // index into result.masks
  auto: null,       // masks of "segment everything"
  seq: 0,           // predict requests sent
  shown: 0,         // the request whose masks are drawn
  lastMs: 0,        // round trip of the last predict
  busy: false,
};
window.fovea = state;

const palette = [[30, 144, 255], [255, 99, 71], [50, 205, 50], [255, 215, 0], [186, 85, 211], [0, 206, 209]];

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(method, path, body, headers) {
  const opts = { method, headers: headers || {} };
  if (body !== undefined) {
    if (body instanceof Blob) {
      opts.body = body;
    } else {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, opts);
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    throw new Error(`${method} ${path}: HTTP ${res.status}`);
  }
  if (!res.ok) {
    throw new Error(data && data.error ? data.error : `${method} ${path}: HTTP ${res.status}`);
  }
  return data;
}

function showProgress(text, done, total) {
  $("progress").hidden = false;
  $("progress-text").textContent = text;
  const bar = $("progress-bar");
  if (total > 0) {
    bar.max = total;
    bar.value = done;
  } else {
    bar.removeAttribute("value"); // indeterminate
  }
}

function hideProgress() {
  $("progress").hidden = true;
}

// pollJob polls GET /api/jobs/{id} until the job ends, showing its progress.
async function pollJob(id, label) {
  for (;;) {
    const j = await api("GET", `/api/jobs/${id}`);
    const stage = j.stage ? `${label} (${j.stage})` : label;
    const count = j.total > 0 ? ` ${j.done}/${j.total}` : "";
    showProgress(`${stage}${count} · ${j.seconds.toFixed(1)} s`, j.done, j.total);
    if (j.status === "done") return j;
    if (j.status === "error") throw new Error(j.error);
    await new Promise((r) => setTimeout(r, 150));
  }
}

// ---- opening an image ----

async function openFile(file) {
  if (!file) return;
  if (file.type && file.type !== "image/png" && file.type !== "image/jpeg") {
    setStatus(`${file.name}: not a PNG or JPEG image`, true);
    return;
  }
  state.busy = true;
  updateButtons();
  try {
    const bitmap = await createImageBitmap(file);
    showImage(bitmap);
    state.imageId = null;
    resetPrompts();
    setStatus(`uploading ${file.name}…`);
    const t0 = performance.now();
    let view = await api("POST", "/api/embed", file, { "Content-Type": file.type || "application/octet-stream" });
    if (view.status !== "ready") {
      await pollJob(view.job.id, "computing the image embedding");
      view = await api("GET", `/api/images/${view.image_id}`);
    }
    hideProgress();
    if (view.width !== bitmap.width || view.height !== bitmap.height) {
      setStatus(`the server decoded ${view.width}×${view.height} pixels but the browser shows ${bitmap.width}×${bitmap.height} (EXIF rotation?)`, true);
    } else {
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      setStatus(`${file.name}: ${view.width}×${view.height}, embedding ready in ${secs} s — click the image`);
    }
    state.imageId = view.image_id;
  } catch (e) {
    hideProgress();
    setStatus(e.message, true);
  } finally {
    state.busy = false;
    updateButtons();
  }
}

function showImage(bitmap) {
  state.width = bitmap.width;
  state.height = bitmap.height;
  for (const id of ["image-canvas", "mask-canvas", "prompt-canvas"]) {
    const c = $(id);
    c.width = bitmap.width;
    c.height = bitmap.height;
  }
  $("image-canvas").getContext("2d").drawImage(bitmap, 0, 0);
  // Show small images enlarged (up to 4×, 720 px wide) and large ones fitted to the window.
  const avail = $("drop").clientWidth - 16;
  const maxH = Math.max(200, window.innerHeight - 150);
  let disp = Math.max(bitmap.width, Math.min(720, 4 * bitmap.width));
  disp = Math.min(disp, avail, (maxH * bitmap.width) / bitmap.height);
  $("stage").style.width = `${Math.round(disp)}px`;
  $("stage").hidden = false;
  $("drop-text").hidden = true;
  $("drop").classList.add("loaded");
}

// ---- prompts ----

function resetPrompts() {
  state.points = [];
  state.box = null;
  state.history = [];
  state.result = null;
  state.auto = null;
  state.selected = 0;
  drawPrompts();
  drawMasks();
  listMasks();
  updateButtons();
}

function pushHistory() {
  state.history.push({ points: state.points.slice(), box: state.box });
}

function addPoint(x, y, label) {
  pushHistory();
  state.points.push({ x, y, label });
  promptChanged();
}

function setBox(b) {
  pushHistory();
  state.box = b;
  promptChanged();
}

function promptChanged() {
  state.auto = null;
  drawPrompts();
  updateButtons();
  if (state.points.length === 0 && !state.box) {
    state.result = null;
    drawMasks();
    listMasks();
    return;
  }
  predict();
}

async function predict() {
  if (!state.imageId) return;
  const seq = ++state.seq;
  const prompt = {};
  if (state.points.length) {
    prompt.points = state.points.map((p) => [p.x, p.y]);
    prompt.labels = state.points.map((p) => p.label);
  }
  if (state.box) prompt.box = state.box;
  if ($("refine").checked && state.result) {
    prompt.mask_input_id = state.result.masks[state.selected].id;
  }
  const multimask = $("multimask").checked && state.points.length === 1 && !state.box;
  const t0 = performance.now();
  try {
    const res = await api("POST", "/api/predict", {
      image_id: state.imageId, prompts: [prompt], multimask, mask_format: "coco_rle",
    });
    if (seq < state.shown) return; // a later answer is already drawn
    state.shown = seq;
    state.lastMs = performance.now() - t0;
    state.result = res.results[0];
    state.selected = state.result.best;
    drawMasks();
    listMasks();
    updateButtons();
    setStatus(`${state.result.masks.length} mask(s) in ${state.lastMs.toFixed(0)} ms (decoder ${res.decode_ms.toFixed(0)} ms)`);
  } catch (e) {
    setStatus(e.message, true);
  }
}

// ---- drawing ----

// rleCounts decodes COCO's compressed RLE string into run lengths.
function rleCounts(s) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

// paintMask colours the pixels of a mask (runs in column-major order) in data.
function paintMask(data, seg, rgb, alpha) {
  const [h, w] = seg.size;
  const counts = typeof seg.counts === "string" ? rleCounts(seg.counts) : seg.counts;
  let k = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i % 2 === 1) {
      for (let q = k; q < k + n; q++) {
        const x = Math.floor(q / h), y = q - x * h;
        const o = (y * w + x) * 4;
        data[o] = rgb[0];
        data[o + 1] = rgb[1];
        data[o + 2] = rgb[2];
        data[o + 3] = alpha;
      }
    }
    k += n;
  }
}

function drawMasks() {
  const c = $("mask-canvas");
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  if (!c.width) return;
  const img = ctx.createImageData(c.width, c.height);
  if (state.auto) {
    // Largest first, so that small masks stay visible.
    const order = state.auto.map((m, i) => i).sort((a, b) => state.auto[b].area - state.auto[a].area);
    for (const i of order) paintMask(img.data, state.auto[i].segmentation, autoColor(i), 150);
  } else if (state.result) {
    const m = state.result.masks[state.selected];
    paintMask(img.data, m.segmentation, palette[0], 140);
  }
  ctx.putImageData(img, 0, 0);
  c.dataset.mask = state.auto ? "auto" : state.result ? state.result.masks[state.selected].id : "";
}

function autoColor(i) {
  // Golden-angle hues: distinct neighbours.
  const h = (i * 137.508) % 360;
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

function drawPrompts(preview) {
  const c = $("prompt-canvas");
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const r = Math.max(3, Math.min(c.width, c.height) / 90);
  const lw = Math.max(1.5, r / 3);
  const box = preview || state.box;
  if (box) {
    ctx.lineWidth = lw;
    ctx.strokeStyle = preview ? "rgba(255,255,255,0.9)" : "rgb(255,215,0)";
    ctx.setLineDash(preview ? [4 * lw, 3 * lw] : []);
    ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    ctx.setLineDash([]);
  }
  for (const p of state.points) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
    ctx.fillStyle = p.label === 1 ? "rgb(0,200,0)" : "rgb(230,0,0)";
    ctx.fill();
    ctx.lineWidth = lw;
    ctx.strokeStyle = "white";
    ctx.stroke();
  }
}

function listMasks() {
  const ol = $("masks");
  ol.textContent = "";
  const masks = state.auto || (state.result ? state.result.masks : []);
  masks.forEach((m, i) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    const rgb = state.auto ? autoColor(i) : palette[0];
    sw.style.background = `rgb(${rgb.join(",")})`;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(`score ${m.score.toFixed(3)} · ${m.area} px`));
    li.dataset.id = m.id;
    if (!state.auto && i === state.selected) li.classList.add("selected");
    if (!state.auto) {
      li.addEventListener("click", () => {
        state.selected = i;
        drawMasks();
        listMasks();
      });
    }
    ol.appendChild(li);
  });
}

function updateButtons() {
  const ready = !!state.imageId && !state.busy;
  $("undo").disabled = !ready || state.history.length === 0;
  $("clear").disabled = !ready || (state.points.length === 0 && !state.box && !state.auto);
  $("everything").disabled = !ready;
  $("dl-png").disabled = !(state.result && !state.auto);
  $("dl-rle").disabled = !(state.result || state.auto);
}

// ---- mouse ----

// imagePoint maps a mouse event to image pixel coordinates.
function imagePoint(ev) {
  const c = $("prompt-canvas");
  const r = c.getBoundingClientRect();
  const x = ((ev.clientX - r.left) / r.width) * c.width;
  const y = ((ev.clientY - r.top) / r.height) * c.height;
  return [Math.min(Math.max(x, 0), c.width), Math.min(Math.max(y, 0), c.height)];
}

let drag = null; // {x, y, sx, sy, button, shift, moved}

function onDown(ev) {
  if (!state.imageId || state.busy) return;
  ev.preventDefault();
  const [x, y] = imagePoint(ev);
  drag = { x, y, sx: ev.clientX, sy: ev.clientY, button: ev.button, shift: ev.shiftKey, moved: false };
  $("prompt-canvas").setPointerCapture(ev.pointerId);
}

function onMove(ev) {
  if (!drag) return;
  if (Math.hypot(ev.clientX - drag.sx, ev.clientY - drag.sy) > 5) drag.moved = true;
  if (drag.moved) {
    const [x, y] = imagePoint(ev);
    drawPrompts([Math.min(drag.x, x), Math.min(drag.y, y), Math.max(drag.x, x), Math.max(drag.y, y)]);
  }
}

function onUp(ev) {
  if (!drag) return;
  const d = drag;
  drag = null;
  const [x, y] = imagePoint(ev);
  if (d.moved) {
    setBox([Math.min(d.x, x), Math.min(d.y, y), Math.max(d.x, x), Math.max(d.y, y)]);
    return;
  }
  const mode = Number(document.querySelector('input[name="mode"]:checked').value);
  const label = d.button === 2 || d.shift ? 0 : mode;
  addPoint(d.x, d.y, label);
}

// ---- segment everything ----

async function segmentEverything() {
  if (!state.imageId) return;
  state.busy = true;
  updateButtons();
  try {
    const options = {
      points_per_side: Number($("pps").value),
      pred_iou_thresh: Number($("iou-thresh").value),
      stability_score_thresh: Number($("stab-thresh").value),
    };
    const t0 = performance.now();
    const j = await api("POST", "/api/automask", { image_id: state.imageId, options, mask_format: "coco_rle" });
    const done = j.status === "done" ? j : await pollJob(j.id, "segmenting everything");
    hideProgress();
    pushHistory();
    state.points = [];
    state.box = null;
    state.result = null;
    state.auto = done.result.masks;
    drawPrompts();
    drawMasks();
    listMasks();
    setStatus(`${state.auto.length} masks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    hideProgress();
    setStatus(e.message, true);
  } finally {
    state.busy = false;
    updateButtons();
  }
}

// ---- downloads ----

function download(href, name) {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function downloadPNG() {
  if (!state.result) return;
  const m = state.result.masks[state.selected];
  download(`/api/masks/${m.id}.png`, `mask_${m.id}.png`);
}

function downloadRLE() {
  const masks = state.auto || (state.result ? state.result.masks : []);
  const records = masks.map((m) => {
    const r = {
      id: m.id,
      image_id: state.imageId,
      segmentation: m.segmentation,
      area: m.area,
      bbox: m.bbox,
      predicted_iou: m.score,
    };
    if (m.stability_score !== undefined) r.stability_score = m.stability_score;
    if (m.point_coords) r.point_coords = m.point_coords;
    if (!state.auto) {
      r.prompt = { points: state.points.map((p) => [p.x, p.y]), labels: state.points.map((p) => p.label), box: state.box };
    }
    return r;
  });
  const blob = new Blob([JSON.stringify(records, null, 1)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  download(url, "masks_coco_rle.json");
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- wiring ----

function init() {
  const pc = $("prompt-canvas");
  pc.addEventListener("pointerdown", onDown);
  pc.addEventListener("pointermove", onMove);
  pc.addEventListener("pointerup", onUp);
  pc.addEventListener("pointercancel", () => { drag = null; drawPrompts(); });
  pc.addEventListener("contextmenu", (ev) => ev.preventDefault());

  $("file").addEventListener("change", (ev) => openFile(ev.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (ev.dataTransfer.files.length) openFile(ev.dataTransfer.files[0]);
  });

  $("undo").addEventListener("click", () => {
    const h = state.history.pop();
    if (!h) return;
    state.points = h.points;
    state.box = h.box;
    promptChanged();
  });
  $("clear").addEventListener("click", () => { pushHistory(); state.points = []; state.box = null; promptChanged(); });
  $("everything").addEventListener("click", segmentEverything);
  $("dl-png").addEventListener("click", downloadPNG);
  $("dl-rle").addEventListener("click", downloadRLE);

  api("GET", "/api/health").then((h) => {
    $("model").textContent = h.model ? `SAM: ${h.model}` : "no SAM model loaded";
  }).catch((e) => setStatus(e.message, true));
}

init();
