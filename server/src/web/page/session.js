// The connection: framing (§1), the socket, and what the agent says.
'use strict';

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
    lastRx: performance.now(), pingId: 0, timer: null, settings: null,
  };
  const s = session;
  socket.onmessage = (ev) => {
    if (ws !== socket) return;
    s.lastRx = performance.now();
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
    if (performance.now() - s.lastRx > DEAD_AFTER_MS) socket.close();
    else if (s.authed) send({ type: 'ping', id: ++s.pingId }, s);
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
    blockedUntil = performance.now() + Math.min(retryMs, MAX_BLOCK_MS);
    s.refused = s.refused || { text, keepToken: false };
  } else if (msg.code === 'busy' || msg.code === 'protocol') {
    s.refused = s.authed ? null : { text, keepToken: false };
  } else if (msg.code === 'control_disabled') {
    s.control = false;
    showMode(s);
  }
  $('login-error').textContent = text;
}
