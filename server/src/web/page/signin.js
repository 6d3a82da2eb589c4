// Sign-in (§2.1): the proof, the form, and a blocked address's countdown.
'use strict';

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
  return Math.ceil((blockedUntil - performance.now()) / 1000);
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

setState('login', 'sign in');
