// The lookout browser viewer: what every script of the page shares (its
// constants, its state, the state shown in the bar). The scripts are
// loaded in order: page, session, canvas, input, signin.
// The native protocol (PROTOCOL.md §1–§2) over a WebSocket, one binary
// message per frame, `binding: none` (§5). No framework, no build step.
// The token lives in `token` only (never in the URL, storage or the page),
// to reconnect after the agent restarts.
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
let blockedUntil = 0; // performance.now() (monotonic) when this address may sign in again
let blockTimer = null;
const MAX_BLOCK_MS = 24 * 3600 * 1000;

function setState(state, text) {
  document.body.dataset.state = state;
  $('state-text').textContent = text || state;
}

function clean(text) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 300);
}
