#!/usr/bin/env bash
# Starts an agent and a viewer on this machine (called by `./dev.sh run`).
#
# With a screen (DISPLAY works): the agent streams this screen and the
# viewer opens a window on it (a hall of mirrors, since it watches itself).
# Without one: a virtual display (Xvfb) hosts the viewer's window, the agent
# streams its animated test scene, and a snapshot plus a screenshot of the
# virtual display prove that it works.
#
# Runs until Ctrl-C, or for DEMO_SECONDS seconds if that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
PORT=${LOOKOUT_PORT:-6868}
export LOOKOUT_TOKEN
LOOKOUT_TOKEN=${LOOKOUT_TOKEN:-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The agent prints its TLS fingerprint on stdout once it listens; the
# viewer pins it (--fingerprint), so nobody else can stand in for the agent.
OUT=$(mktemp)
trap 'cleanup; rm -f "$OUT"' EXIT
FINGERPRINT=
wait_agent() {
  for _ in $(seq 1 100); do
    FINGERPRINT=$(sed -n 's/^fingerprint //p' "$OUT")
    [ -n "$FINGERPRINT" ] && return 0
    sleep 0.1
  done
  echo "the agent did not start listening on port $PORT" >&2
  return 1
}

hold() {
  if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
  else
    echo "Running; Ctrl-C to stop."
    wait "${pids[@]}"
  fi
}

if [ -n "${DISPLAY:-}" ] && xdpyinfo >/dev/null 2>&1; then
  echo "Screen found ($DISPLAY): streaming it to a viewer window."
  "$BIN/lookout-server" --bind "127.0.0.1:$PORT" >"$OUT" &
  pids+=($!)
  wait_agent
  "$BIN/lookout-viewer" "127.0.0.1:$PORT" --fingerprint "$FINGERPRINT" &
  pids+=($!)
  hold
  exit 0
fi

echo "No screen: using a virtual display and the agent's test scene."
n=90
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1600x900x24 -noreset -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do DISPLAY=":$n" xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

# The agent needs no display for its test scene.
env -u DISPLAY "$BIN/lookout-server" --bind "127.0.0.1:$PORT" --source test-pattern >"$OUT" &
pids+=($!)
wait_agent
DISPLAY=":$n" "$BIN/lookout-viewer" "127.0.0.1:$PORT" --fingerprint "$FINGERPRINT" &
pids+=($!)

sleep 3
"$BIN/lookout-viewer" "127.0.0.1:$PORT" --fingerprint "$FINGERPRINT" --snapshot demo-snapshot.png
DISPLAY=":$n" import -window root demo-screen.png
echo
echo "It works:"
echo "  demo-snapshot.png  one frame as the agent sent it (lookout-viewer --snapshot)"
echo "  demo-screen.png    the virtual display, with the viewer's window showing the stream"
echo "Watch it yourself from another machine with a screen:"
echo "  lookout-viewer THIS-HOST:$PORT --token $LOOKOUT_TOKEN --fingerprint $FINGERPRINT"
echo "  (after re-running the agent with --bind 0.0.0.0:$PORT)"
hold
