// fovea training dashboard: follows GET /api/dashboard/events (server-sent events: a
// "snapshot" of the whole run, then "step" and "epoch" events) and draws the curves, the
// per-class IoU table and the latest prediction overlays.
"use strict";

const $ = (id) => document.getElementById(id);

// run is the dashboard's copy of the run (DashboardState in serve/dashboard.go);
// window.foveaRun exposes it to tests and the console.
let run = { status: "waiting", steps: [], history: [], classes: [], class_iou: [], overlays: [] };
window.foveaRun = run;

const maxPoints = 4000;
const metricColors = { mIoU: "#1e78d2", aAcc: "#2e7d32", mAcc: "#e8710a", fwIoU: "#8e24aa" };
const fallbackColors = ["#00897b", "#c2185b", "#5d4037", "#546e7a"];

// smooth is a bias-corrected exponential moving average (TensorBoard's smoothing).
function smooth(points, beta) {
  const out = [];
  let m = 0, n = 0;
  for (const [x, y] of points) {
    if (y === null) continue;
    n++;
    m = beta * m + (1 - beta) * y;
    out.push([x, m / (1 - beta ** n)]);
  }
  return out;
}

function draw() {
  const steps = run.steps;
  const loss = steps.map((p) => [p.step, p.loss]);
  const epochLoss = run.history.map((e) => [e.step, e.loss]);
  drawChart($("loss-chart"), [
    { name: "step", color: "rgba(30,120,210,0.3)", points: loss, width: 1 },
    { name: "smoothed", color: "#1e78d2", points: smooth(loss, 0.9), width: 2 },
    { name: "epoch mean", color: "#e8710a", points: epochLoss, dots: true, width: 1.5 },
  ], { xlabel: "step", integerX: true });
  drawChart($("lr-chart"), [{ name: "", color: "#2e7d32", points: steps.map((p) => [p.step, p.lr]), width: 2 }], { xlabel: "step", integerX: true });

  const names = [];
  for (const e of run.history) for (const k of Object.keys(e.metrics || {})) if (!names.includes(k)) names.push(k);
  names.sort();
  drawChart($("val-chart"), names.map((k, i) => ({
    name: k,
    color: metricColors[k] || fallbackColors[i % fallbackColors.length],
    points: run.history.map((e) => [e.epoch, e.metrics[k] === undefined ? null : e.metrics[k]]),
    dots: true,
    width: 2,
  })), { xlabel: "epoch", integerX: true, ymin: 0, ymax: 1 });

  const status = $("run-status");
  status.textContent = run.status + (run.error ? `: ${run.error}` : "");
  status.className = `status-${run.status}`;
  $("run").textContent = run.run || "";
  const last = steps.length ? steps[steps.length - 1] : null;
  if (last && run.steps_per_epoch) {
    $("progress").textContent = `epoch ${last.epoch}/${run.epochs} · step ${last.step}/${run.epochs * run.steps_per_epoch}`;
  }
}

function drawTable() {
  const body = $("iou-table").tBodies[0];
  body.textContent = "";
  const epoch = run.history.length ? run.history[run.history.length - 1].epoch : null;
  $("iou-title").textContent = epoch ? `Per-class IoU (epoch ${epoch})` : "Per-class IoU";
  run.classes.forEach((name, i) => {
    const v = run.class_iou[i];
    const tr = document.createElement("tr");
    const td = (text, cls) => {
      const c = document.createElement("td");
      c.textContent = text;
      if (cls) c.className = cls;
      tr.appendChild(c);
      return c;
    };
    td(name);
    td(v === null || v === undefined ? "n/a" : v.toFixed(4), "num");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(100 * (v || 0))}px`;
    td("").appendChild(bar);
    body.appendChild(tr);
  });
}

function drawOverlays() {
  const div = $("overlays");
  div.textContent = "";
  for (const o of run.overlays) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = o.url;
    img.alt = o.name;
    const cap = document.createElement("figcaption");
    cap.textContent = o.name;
    fig.appendChild(img);
    fig.appendChild(cap);
    div.appendChild(fig);
  }
}

let pending = false;
function redraw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
  });
}

function thin(points) {
  // Keep at most maxPoints steps: drop every other point when over.
  if (points.length <= maxPoints) return points;
  return points.filter((p, i) => i % 2 === 0);
}

function connect() {
  const es = new EventSource("/api/dashboard/events");
  es.addEventListener("snapshot", (ev) => {
    run = JSON.parse(ev.data);
    window.foveaRun = run;
    drawTable();
    drawOverlays();
    redraw();
  });
  es.addEventListener("step", (ev) => {
    const p = JSON.parse(ev.data);
    run.status = "running";
    run.steps.push(p);
    run.steps = thin(run.steps);
    redraw();
  });
  es.addEventListener("epoch", (ev) => {
    const e = JSON.parse(ev.data);
    run.status = "running";
    run.epochs = e.epochs;
    run.history.push({ epoch: e.epoch, step: e.step, loss: e.loss, lr: e.lr, metrics: e.metrics, time: e.time });
    run.classes = e.classes || run.classes;
    run.class_iou = e.class_iou || [];
    run.overlays = e.overlays || [];
    drawTable();
    drawOverlays();
    redraw();
  });
  // EventSource reconnects by itself after errors; the server then sends a snapshot.
}

window.addEventListener("resize", redraw);
connect();
draw();
