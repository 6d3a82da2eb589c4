// Pictures (§2.3) on the canvas, and the stream settings that fit it (§2.2).
'use strict';

// --- pictures (§2.3) ------------------------------------------------------

function onImage(s, bytes) {
  const p = s.pending;
  if (!p) return;
  p.parts.push(bytes);
  if (p.parts.length < p.need) return;
  s.pending = null;
  if (!p.rects) s.queue = [p]; // a full frame: older undecoded ones are moot
  else s.queue.push(p);
  if (s.queue.length > MAX_QUEUED_UPDATES) {
    s.queue = [];
    startMonitor(s, true); // the next frame is full again
  }
  decodeNext(s);
}

async function decodeNext(s) {
  if (s.decoding || !s.queue.length) return;
  s.decoding = true;
  const u = s.queue.shift();
  try {
    const bitmaps = await Promise.all(u.parts.map(
      (part) => createImageBitmap(new Blob([part], { type: 'image/jpeg' }))));
    draw(s, u, bitmaps);
    bitmaps.forEach((b) => b.close());
  } catch (err) {
    s.queue = [];
    startMonitor(s, true);
  }
  s.decoding = false;
  decodeNext(s);
}

function draw(s, u, bitmaps) {
  if (s !== session) return;
  const { width, height } = u.meta;
  if (!u.rects) {
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    ctx.drawImage(bitmaps[0], 0, 0);
  } else {
    if (canvas.width !== width || canvas.height !== height) {
      startMonitor(s, true);
      return;
    }
    u.rects.forEach(([x, y], i) => ctx.drawImage(bitmaps[i], x, y));
  }
  s.pictured = true;
  stats.drawn++;
  const latency = Date.now() - u.meta.captured_at_us / 1000;
  stats.latencyMs = latency;
  stats.latencies.push(latency);
  if (stats.latencies.length > 300) stats.latencies.shift();
  const state = document.body.dataset.state;
  if (state === 'connecting' || state === 'reconnecting') setState('live');
}

// --- stream settings (§2.2) -----------------------------------------------

function wantedSettings() {
  const dpr = window.devicePixelRatio || 1;
  const clamp = (v) => Math.max(16, Math.min(16384, Math.round(v * dpr)));
  return { max_width: clamp(canvas.clientWidth), max_height: clamp(canvas.clientHeight), regions: true };
}

function startMonitor(s, force) {
  const settings = wantedSettings();
  const same = s.settings && s.settings.max_width === settings.max_width
    && s.settings.max_height === settings.max_height;
  if (same && !force) return;
  s.settings = settings;
  send({ type: 'start_monitor', ...settings }, s);
}

let resizeTimer = null;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (session && session.authed && !paused) startMonitor(session, false);
  }, RESIZE_DEBOUNCE_MS);
}).observe(canvas);
