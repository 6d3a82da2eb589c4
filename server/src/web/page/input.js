// Steering (§2.2) and the bar's controls: pointer, wheel, keys, touch;
// nothing stays pressed on the agent.
'use strict';

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
