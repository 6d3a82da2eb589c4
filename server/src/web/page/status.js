// The status bar: its counters each second, and the agent's fingerprint.
'use strict';

// --- counters -------------------------------------------------------------

let lastTick = { at: performance.now(), drawn: 0, bytes: 0 };
setInterval(() => {
  const now = performance.now();
  const secs = (now - lastTick.at) / 1000;
  stats.fps = (stats.drawn - lastTick.drawn) / secs;
  stats.kbps = ((stats.bytes - lastTick.bytes) * 8) / 1000 / secs;
  lastTick = { at: now, drawn: stats.drawn, bytes: stats.bytes };
  $('fps').textContent = `${stats.fps.toFixed(1)} fps`;
  $('latency').textContent = stats.latencyMs === null ? '– ms' : `${Math.round(stats.latencyMs)} ms`;
  $('rate').textContent = `${Math.round(stats.kbps)} kbit/s`;
}, 1000);

// --- the agent's fingerprint ----------------------------------------------

fetch('/info', { cache: 'no-store' })
  .then((r) => r.json())
  .then((info) => {
    const fp = String(info.fingerprint || '');
    const hex = fp.replace(/^sha256:/, '');
    $('fp-hex').textContent = fp;
    $('fp-colon').textContent = (hex.match(/../g) || []).join(':').toUpperCase();
    const bar = document.createElement('span');
    bar.id = 'fingerprint';
    bar.title = `${(hex.match(/../g) || []).join(':').toUpperCase()}\n`
      + 'As sent by the server: only the browser\'s certificate viewer proves it.';
    bar.textContent = fp;
    $('mode').after(bar);
  })
  .catch(() => { $('fp-hex').textContent = 'unknown'; });
