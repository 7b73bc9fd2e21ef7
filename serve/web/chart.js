// A small line chart on a canvas: no dependencies.
//
// drawChart(canvas, series, opts) draws series = [{name, color, points: [[x, y], …],
// width, dots}] with axes, ticks and a legend; opts = {xlabel, log (log-scale y)}.
// It records the number of points drawn in canvas.dataset.points.
"use strict";

function niceTicks(lo, hi, n, integer) {
  if (!(hi > lo)) {
    const d = Math.abs(lo) || 1;
    lo -= d / 2;
    hi += d / 2;
  }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  if (integer) step = Math.max(1, Math.round(step));
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return { lo, hi, ticks };
}

function fmtTick(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return +v.toPrecision(4) + "";
}

function drawChart(canvas, series, opts) {
  opts = opts || {};
  const dpr = window.devicePixelRatio || 1;
  const cw = canvas.clientWidth || 400, ch = canvas.clientHeight || 200;
  if (canvas.width !== Math.round(cw * dpr) || canvas.height !== Math.round(ch * dpr)) {
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(ch * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cw, ch);
  ctx.font = "11px system-ui, sans-serif";

  const ty = (y) => (opts.log ? Math.log10(y) : y);
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, count = 0;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (y === null || !isFinite(y) || (opts.log && !(y > 0))) continue;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, ty(y));
      ymax = Math.max(ymax, ty(y));
      count++;
    }
  }
  canvas.dataset.points = String(count);
  const left = 52, right = 12, top = 22, bottom = 34;
  const pw = cw - left - right, ph = ch - top - bottom;
  ctx.strokeStyle = "#d8dde3";
  ctx.strokeRect(left, top, pw, ph);
  if (count === 0) {
    ctx.fillStyle = "#6a737d";
    ctx.fillText("waiting for data…", left + 10, top + 20);
    return;
  }
  if (opts.ymin !== undefined) ymin = Math.min(ymin, opts.ymin);
  if (opts.ymax !== undefined) ymax = Math.max(ymax, opts.ymax);
  // A little room on both sides so that end points and their dots show whole.
  const xpad = xmax === xmin ? 0.5 : 0.02 * (xmax - xmin);
  const xt = niceTicks(xmin - xpad, xmax + xpad, 6, opts.integerX);
  xt.ticks = xt.ticks.filter((v) => v >= xmin - xpad && v <= xmax + xpad);
  xt.lo = xmin - xpad;
  xt.hi = xmax + xpad;
  const yt = niceTicks(ymin, ymax, 5);
  const X = (x) => left + ((x - xt.lo) / (xt.hi - xt.lo)) * pw;
  const Y = (y) => top + ph - ((ty(y) - yt.lo) / (yt.hi - yt.lo)) * ph;

  ctx.fillStyle = "#6a737d";
  ctx.strokeStyle = "#eef0f3";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of yt.ticks) {
    const py = top + ph - ((v - yt.lo) / (yt.hi - yt.lo)) * ph;
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(left + pw, py);
    ctx.stroke();
    ctx.fillText(opts.log ? fmtTick(10 ** v) : fmtTick(v), left - 4, py);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of xt.ticks) {
    const px = X(v);
    ctx.fillText(fmtTick(v), px, top + ph + 4);
  }
  if (opts.xlabel) ctx.fillText(opts.xlabel, left + pw / 2, top + ph + 18);

  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, pw, ph);
  ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = s.width || 1.5;
    ctx.beginPath();
    let pen = false;
    for (const [x, y] of s.points) {
      if (y === null || !isFinite(y) || (opts.log && !(y > 0))) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(X(x), Y(y));
      else ctx.moveTo(X(x), Y(y));
      pen = true;
    }
    ctx.stroke();
    if (s.dots) {
      for (const [x, y] of s.points) {
        if (y === null || !isFinite(y)) continue;
        ctx.beginPath();
        ctx.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.restore();

  // legend
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let lx = left + 8;
  for (const s of series) {
    if (!s.name) continue;
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 8, 10, 3);
    ctx.fillStyle = "#1d232a";
    ctx.fillText(s.name, lx + 14, 10);
    lx += 24 + ctx.measureText(s.name).width;
  }
}
