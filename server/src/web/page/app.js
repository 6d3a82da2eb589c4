// The lookout browser viewer: the native protocol (PROTOCOL.md §1–§2)
// over a WebSocket, one binary message per frame, `binding: none` (§5).
// No framework, no build step. The token lives in `token` only (never in
// the URL, storage or the page), to reconnect after the agent restarts.
'use strict';

const CLIENT = 'lookout-web 2';
const PING_EVERY_MS = 4000; // §2.5: something at least every 5 s
const DEAD_AFTER_MS = 15000; // §2.5: a server silent this long is dead
const MAX_QUEUED_UPDATES = 32; // region updates waiting to be decoded
const RESIZE_DEBOUNCE_MS = 300;
const MAX_CONTROL = 64 * 1024;

const $ = (id) => document.getElementById(id);
const canvas = $('screen');
const ctx = canvas.getContext('2d', { alpha: false });
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

// Counters for people (the status bar) and for tests and benchmarks.
const stats = {
  drawn: 0, bytes: 0, latencies: [], fps: 0, kbps: 0, latencyMs: null,
  p50() {
    if (!this.latencies.length) return null;
    const s = [...this.latencies].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  },
};
// `refusals` counts sign-ins the agent refused, for tests.
window.lookout = { stats, state: () => document.body.dataset.state, refusals: 0 };

let token = null; // kept only to reconnect
let ws = null;
let session = null; // per connection: see connect()
let everLive = false;
let backoffMs = 500;
let reconnectTimer = null;
let localViewOnly = false;
let paused = false;
let monitors = [];
let blockedUntil = 0; // Date.now() when this address may sign in again
let blockTimer = null;
const MAX_BLOCK_MS = 24 * 3600 * 1000;

function setState(state, text) {
  document.body.dataset.state = state;
  $('state-text').textContent = text || state;
}

function clean(text) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300);
}

// --- framing (§1) ---------------------------------------------------------

function frame(tag, payload) {
  const out = new Uint8Array(10 + payload.length);
  out[0] = tag.charCodeAt(0);
  out[1] = tag.charCodeAt(1);
  new DataView(out.buffer).setUint32(2, payload.length, true);
  out.set(payload, 10);
  return out;
}

// Sends on `s`'s own socket, and only while `s` is the current session:
// a late send of an old session (a proof computed, a picture decoded
// after a reconnect) never reaches the new connection.
function send(msg, s = session) {
  if (!s || s !== session || s.socket !== ws || ws.readyState !== WebSocket.OPEN) return;
  const payload = enc.encode(JSON.stringify(msg));
  if (payload.length > MAX_CONTROL) return;
  ws.send(frame('HC', payload));
}

function parse(buf) {
  if (buf.byteLength < 10) throw new Error('short frame');
  const view = new DataView(buf);
  const tag = String.fromCharCode(view.getUint8(0), view.getUint8(1));
  const len = view.getUint32(2, true) + view.getUint32(6, true) * 4294967296;
  if (len === 0 || len !== buf.byteLength - 10) throw new Error('bad frame length');
  const payload = new Uint8Array(buf, 10);
  if (tag === 'HC') {
    if (len > MAX_CONTROL) throw new Error('control frame too long');
    return { control: JSON.parse(dec.decode(payload)) };
  }
  if (tag === 'HT') return { image: payload };
  throw new Error('unknown tag');
}

// --- sign-in (§2.1) -------------------------------------------------------

function hexToBytes(hex) {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('bad challenge');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

async function proof(challengeHex) {
  const key = await crypto.subtle.importKey(
    'raw', enc.encode(token), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, hexToBytes(challengeHex)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The agent drops a blocked address's connections unanswered: the page
// keeps the block's end it was told, counts it down and keeps sign-in
// off until then.
function blockLeftS() {
  return Math.ceil((blockedUntil - Date.now()) / 1000);
}

function showBlock() {
  clearInterval(blockTimer);
  const tick = () => {
    const left = blockLeftS();
    if (left > 0) {
      $('login-error').textContent = `Too many failed sign-ins: blocked for ${left} s`;
      $('signin').disabled = true;
      return;
    }
    clearInterval(blockTimer);
    $('signin').disabled = false;
    $('login-error').textContent = 'The block is over: sign in again.';
  };
  tick();
  blockTimer = setInterval(tick, 250);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (blockLeftS() > 0) { showBlock(); return; }
  const field = $('token');
  token = field.value;
  field.value = '';
  $('login-error').textContent = '';
  everLive = false;
  backoffMs = 500;
  connect();
});

// --- connection -----------------------------------------------------------

function connect() {
  clearTimeout(reconnectTimer);
  if (ws) ws.close();
  setState(everLive ? 'reconnecting' : 'connecting');
  const socket = new WebSocket(`wss://${location.host}/ws`);
  socket.binaryType = 'arraybuffer';
  ws = socket;
  session = {
    socket, pictured: false,
    authed: false, refused: null, pending: null, queue: [], decoding: false,
    lastRx: Date.now(), pingId: 0, timer: null, settings: null,
  };
  const s = session;
  socket.onmessage = (ev) => {
    if (ws !== socket) return;
    s.lastRx = Date.now();
    stats.bytes += ev.data.byteLength;
    let f;
    try {
      f = parse(ev.data);
    } catch (err) {
      socket.close();
      return;
    }
    if (f.control) onControl(s, f.control);
    else onImage(s, f.image);
  };
  socket.onclose = () => {
    if (ws !== socket) return;
    clearInterval(s.timer);
    releaseAll();
    ws = null;
    if (s.refused) {
      window.lookout.refusals++;
      token = s.refused.keepToken ? token : null;
      setState('refused', blockLeftS() > 0 ? 'blocked' : 'refused');
      $('login-error').textContent = s.refused.text;
      if (blockLeftS() > 0) showBlock();
      $('token').focus();
      return;
    }
    if (!everLive && blockLeftS() > 0) {
      token = null;
      setState('refused', 'blocked');
      showBlock();
      return;
    }
    if (!everLive) {
      setState('refused', 'cannot connect');
      $('login-error').textContent = 'The agent closed the connection before sign-in. '
        + 'It may be down, or this address is blocked for a while after wrong tokens: '
        + 'wait a little and try again.';
      token = null;
      return;
    }
    setState('reconnecting');
    reconnectTimer = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 8000);
  };
  s.timer = setInterval(() => {
    if (Date.now() - s.lastRx > DEAD_AFTER_MS) socket.close();
    else send({ type: 'ping', id: ++s.pingId }, s);
  }, PING_EVERY_MS);
}

async function onControl(s, msg) {
  switch (msg.type) {
    case 'hello': {
      if (msg.binding !== 'none') { s.socket.close(); return; }
      const response = msg.auth === 'none' ? '' : await proof(msg.challenge);
      send({ type: 'auth', protocol: 2, client: CLIENT, response }, s);
      break;
    }
    case 'welcome':
      s.authed = true;
      everLive = true;
      backoffMs = 500;
      $('name').textContent = clean(msg.name);
      document.title = `${clean(msg.name)} – lookout`;
      s.control = msg.control;
      showMonitors(msg.monitors || [], msg.monitor);
      showMode(s);
      if (paused) setState('paused');
      else { setState('connecting', 'waiting for the first picture'); startMonitor(s, true); }
      break;
    case 'frame': {
      const rects = Array.isArray(msg.rects) ? msg.rects : null;
      s.pending = { meta: msg, rects, need: rects ? rects.length : 1, parts: [] };
      break;
    }
    case 'monitors':
      showMonitors(msg.monitors || [], Number($('monitor').value));
      break;
    case 'stream':
      if (msg.state === 'live') setState('live');
      else setState('paused', `${msg.state}: ${clean(msg.reason || '')}`);
      break;
    case 'error':
      onError(s, msg);
      break;
    default:
      break; // pong, and anything newer
  }
}

function onError(s, msg) {
  const text = clean(msg.message || msg.code);
  if (msg.code === 'auth_failed') {
    const wrong = text === 'authentication failed';
    s.refused = { text: wrong ? 'Wrong token: try again.' : text, keepToken: false };
  }
  const retryMs = Number(msg.retry_after_ms);
  if (Number.isFinite(retryMs) && retryMs > 0) {
    blockedUntil = Date.now() + Math.min(retryMs, MAX_BLOCK_MS);
    s.refused = s.refused || { text, keepToken: false };
  } else if (msg.code === 'busy' || msg.code === 'protocol') {
    s.refused = s.authed ? null : { text, keepToken: false };
  } else if (msg.code === 'control_disabled') {
    s.control = false;
    showMode(s);
  }
  $('login-error').textContent = text;
}

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

// --- controls -------------------------------------------------------------

function showMonitors(list, current) {
  monitors = list;
  const select = $('monitor');
  select.replaceChildren(...list.map((m) => {
    const o = document.createElement('option');
    o.value = String(m.id);
    o.textContent = m.all ? 'all monitors' : `${clean(m.name || m.id)} ${m.width}×${m.height}`;
    return o;
  }));
  select.value = String(current);
  select.hidden = list.length < 2;
}

function showMode(s) {
  const viewOnly = !s.control || localViewOnly;
  $('mode').textContent = viewOnly ? 'view only' : '';
  $('viewonly').textContent = `view only: ${localViewOnly ? 'on' : 'off'}`;
  $('viewonly').disabled = !s.control;
}

function togglePause() {
  if (!session || !session.authed) return;
  paused = !paused;
  if (paused) releaseAll();
  $('pause').textContent = paused ? 'resume' : 'pause';
  if (paused) { send({ type: 'stop_monitor' }); setState('paused'); }
  else { setState('connecting', 'resuming'); startMonitor(session, true); }
}

function nextMonitor() {
  if (monitors.length < 2) return;
  const select = $('monitor');
  select.selectedIndex = (select.selectedIndex + 1) % monitors.length;
  select.dispatchEvent(new Event('change'));
}

function toggleViewOnly() {
  if (!session || !session.control) return;
  releaseAll();
  localViewOnly = !localViewOnly;
  showMode(session);
}

$('pause').addEventListener('click', togglePause);
$('viewonly').addEventListener('click', toggleViewOnly);
$('monitor').addEventListener('change', () => {
  send({ type: 'select_monitor', id: Number($('monitor').value) });
  canvas.focus();
});

// --- steering (§2.2) ------------------------------------------------------

const heldKeys = new Set();
const heldButtons = new Set();
const BUTTONS = ['left', 'middle', 'right'];
// `PointerEvent.buttons` bits of each button.
const BUTTON_BITS = { left: 1, right: 2, middle: 4 };

function steering() {
  return session && session.authed && session.control && !localViewOnly && !paused;
}

// The pointer steers once there is a picture to point at (before, the
// canvas is a 16x16 placeholder and a point on it means nothing).
function pointing() {
  return steering() && session.pictured;
}

function input(msg) {
  if (steering()) send(msg);
}

// Where a point of the page falls in the frame's pixels (the canvas is
// letterboxed by `object-fit: contain`); null outside the picture.
function toFrame(clientX, clientY) {
  const r = canvas.getBoundingClientRect();
  const scale = Math.min(r.width / canvas.width, r.height / canvas.height);
  const left = r.left + (r.width - canvas.width * scale) / 2;
  const top = r.top + (r.height - canvas.height * scale) / 2;
  const x = Math.floor((clientX - left) / scale);
  const y = Math.floor((clientY - top) / scale);
  return {
    x: Math.max(0, Math.min(canvas.width - 1, x)),
    y: Math.max(0, Math.min(canvas.height - 1, y)),
  };
}

let moveQueued = null;
function moveTo(ev) {
  if (!pointing()) return;
  const first = moveQueued === null;
  moveQueued = toFrame(ev.clientX, ev.clientY);
  if (first) {
    requestAnimationFrame(() => {
      if (moveQueued && pointing()) send({ type: 'mouse_move', ...moveQueued });
      moveQueued = null;
    });
  }
}

function moveNow(ev) {
  moveQueued = null;
  if (pointing()) send({ type: 'mouse_move', ...toFrame(ev.clientX, ev.clientY) });
}

// A press is sent only while steering; the release of a held button is
// sent whatever the state, so nothing stays pressed on the agent.
function button(name, pressed) {
  if (pressed) {
    if (!pointing() || heldButtons.has(name)) return;
    heldButtons.add(name);
  } else if (!heldButtons.delete(name)) return;
  send({ type: 'mouse_button', button: name, pressed });
}

// Brings the held buttons in line with `ev.buttons`: a second button
// pressed or released while another is held comes as a `pointermove`.
function syncButtons(ev) {
  for (const name of BUTTONS) {
    const down = (ev.buttons & BUTTON_BITS[name]) !== 0;
    if (down !== heldButtons.has(name)) {
      moveNow(ev);
      button(name, down);
    }
  }
}

// Touch: one finger moves the pointer, a tap clicks, two fingers scroll.
const touches = new Map();
let touchScroll = 0;

canvas.addEventListener('pointerdown', (ev) => {
  canvas.focus();
  ev.preventDefault();
  if (ev.pointerType === 'touch') {
    touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY, t: performance.now(), moved: 0 });
    canvas.setPointerCapture(ev.pointerId);
    if (touches.size === 1) moveNow(ev);
    return;
  }
  canvas.setPointerCapture(ev.pointerId);
  moveNow(ev);
  syncButtons(ev);
});

canvas.addEventListener('pointermove', (ev) => {
  if (ev.pointerType === 'touch') {
    const t = touches.get(ev.pointerId);
    if (!t) return;
    const dy = ev.clientY - t.y;
    t.moved += Math.abs(ev.clientX - t.x) + Math.abs(dy);
    t.x = ev.clientX;
    t.y = ev.clientY;
    if (touches.size === 1) moveTo(ev);
    else if (touches.size === 2) {
      touchScroll += dy / 2;
      const steps = Math.trunc(touchScroll / 30);
      if (steps) { touchScroll -= steps * 30; input({ type: 'scroll', dx: 0, dy: -steps }); }
    }
    return;
  }
  moveTo(ev);
  syncButtons(ev);
});

function pointerEnd(ev) {
  if (ev.pointerType === 'touch') {
    const t = touches.get(ev.pointerId);
    touches.delete(ev.pointerId);
    if (t && ev.type === 'pointerup' && touches.size === 0 && t.moved < 10
        && performance.now() - t.t < 400) {
      moveNow(ev);
      button('left', true);
      button('left', false);
    }
    return;
  }
  syncButtons(ev);
}
canvas.addEventListener('pointerup', pointerEnd);
canvas.addEventListener('pointercancel', (ev) => {
  if (ev.pointerType === 'touch') touches.delete(ev.pointerId);
  else releaseAll();
});
canvas.addEventListener('contextmenu', (ev) => ev.preventDefault());

let wheelAccum = { x: 0, y: 0 };
canvas.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const unit = ev.deltaMode === 1 ? 1 / 3 : ev.deltaMode === 2 ? 1 : 1 / 100;
  wheelAccum.x += ev.deltaX * unit;
  wheelAccum.y += ev.deltaY * unit;
  const dx = Math.trunc(wheelAccum.x);
  const dy = Math.trunc(wheelAccum.y);
  if (dx || dy) {
    wheelAccum.x -= dx;
    wheelAccum.y -= dy;
    input({ type: 'scroll', dx, dy });
  }
}, { passive: false });

const NAMED = {
  Enter: 'enter', NumpadEnter: 'enter', Escape: 'escape', Backspace: 'backspace',
  Tab: 'tab', Space: 'space', Delete: 'delete', Insert: 'insert', Home: 'home',
  End: 'end', PageUp: 'page_up', PageDown: 'page_down', ArrowLeft: 'left',
  ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down', ShiftLeft: 'shift',
  ShiftRight: 'shift', ControlLeft: 'control', ControlRight: 'control',
  AltLeft: 'alt', AltRight: 'alt', MetaLeft: 'meta', MetaRight: 'meta',
  CapsLock: 'caps_lock',
};

function keyName(code) {
  if (NAMED[code]) return NAMED[code];
  let m = /^Key([A-Z])$/.exec(code);
  if (m) return m[1].toLowerCase();
  m = /^Digit([0-9])$/.exec(code);
  if (m) return m[1];
  m = /^F([1-9]|1[0-2])$/.exec(code);
  if (m) return `f${m[1]}`;
  return null;
}

const LOCAL_KEYS = { F7: toggleViewOnly, F8: nextMonitor, F9: togglePause };

// A press is sent only while steering; the release of a held key is
// sent whatever the state and wherever the focus.
function key(name, pressed) {
  if (pressed) {
    if (!steering()) return;
    heldKeys.add(name);
  } else if (!heldKeys.delete(name)) return;
  send({ type: 'key', key: name, pressed });
}

function onKey(ev, pressed) {
  if (!session || !session.authed) return;
  const name = keyName(ev.code);
  if (!pressed && name && heldKeys.has(name)) {
    key(name, false);
    return;
  }
  if (document.activeElement !== canvas) return;
  if (LOCAL_KEYS[ev.code]) {
    ev.preventDefault();
    if (pressed && !ev.repeat) LOCAL_KEYS[ev.code]();
    return;
  }
  // AltGr is not Alt: what it produces is sent as text, without Alt held.
  const altGr = ev.key === 'AltGraph' || ev.getModifierState('AltGraph');
  const char = ev.key.length >= 1 && [...ev.key].length === 1;
  if (altGr) {
    ev.preventDefault();
    if (pressed && char) input({ type: 'text', text: ev.key });
  } else if (name) {
    ev.preventDefault();
    if (pressed) key(name, true);
  } else if (pressed && char) {
    ev.preventDefault();
    input({ type: 'text', text: ev.key });
  }
}
window.addEventListener('keydown', (ev) => onKey(ev, true));
window.addEventListener('keyup', (ev) => onKey(ev, false));

// Nothing stays pressed on the remote machine when this page stops
// hearing about the keys and buttons.
function releaseAll() {
  [...heldKeys].forEach((k) => key(k, false));
  [...heldButtons].forEach((b) => button(b, false));
  touches.clear();
}
window.addEventListener('blur', releaseAll);
window.addEventListener('pagehide', releaseAll);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') releaseAll();
});

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

setState('login', 'sign in');
