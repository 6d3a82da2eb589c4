#!/usr/bin/env bash
# Bytes on the wire for everyday work, lookout against x11vnc, each with
# its own real viewer, on the same desktop in the same run (issue 11's
# scenes): a 1920x1080 Xvfb with a wallpaper and a real xterm, and
#
#   typing     xdotool types into the xterm, 12 keys a second
#   scrolling  the xterm prints 20 lines a second
#   dragging   xdotool moves the xterm 30 times a second
#
# Each server's bytes to its viewer are counted by a byte-counting TCP
# proxy between them; the server's CPU comes from /proc. Needs: Xvfb,
# xterm, xdotool, ImageMagick, x11vnc, xtigervncviewer (tigervnc-viewer),
# python3, and release binaries:
#
#   cargo build --release --bins
#   scripts/scenes-vs-x11vnc.sh [SECONDS]      (default 8 per scene)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
BIN=${LOOKOUT_BIN:-${CARGO_TARGET_DIR:-target}/release}
TOKEN=scenes-benchmark-token-01
A=:731
B=:732
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

Xvfb $A -screen 0 1920x1080x24 -noreset -nolisten tcp &>/dev/null & PIDS+=($!)
Xvfb $B -screen 0 1920x1080x24 -noreset -nolisten tcp &>/dev/null & PIDS+=($!)
sleep 1
# A wallpaper that is not flat, as desktops are.
convert -size 1920x1080 gradient:'#2a4d6e'-'#8fb3c9' -swirl 60 "$WORK/wall.png"
DISPLAY=$A display -window root "$WORK/wall.png" &>/dev/null || true
DISPLAY=$A xterm -geometry 100x30+300+200 -fa Monospace -fs 11 -e bash --norc &>/dev/null & PIDS+=($!)
sleep 1.5
XTERM=$(DISPLAY=$A xdotool search --class xterm | head -1)

# proxy LISTEN_PORT TARGET_PORT COUNT_FILE: counts server-to-viewer bytes.
cat > "$WORK/proxy.py" <<'EOF'
import asyncio, sys
listen, target, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total = 0
async def pipe(r, w, count):
    global total
    while data := await r.read(65536):
        if count:
            total += len(data)
        w.write(data)
        await w.drain()
    w.close()
async def handle(cr, cw):
    sr, sw = await asyncio.open_connection('127.0.0.1', target)
    await asyncio.gather(pipe(cr, sw, False), pipe(sr, cw, True), return_exceptions=True)
async def report():
    while True:
        with open(count_file, 'w') as f:
            f.write(str(total))
        await asyncio.sleep(0.1)
async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', listen)
    await asyncio.gather(server.serve_forever(), report())
asyncio.run(main())
EOF

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

scene() { # NAME: runs the scene for SECS seconds
  case $1 in
    typing)
      DISPLAY=$A xdotool windowactivate --sync "$XTERM" 2>/dev/null || true
      local end=$((SECONDS + SECS))
      while ((SECONDS < end)); do
        DISPLAY=$A xdotool type --window "$XTERM" --delay 83 "the quick brown fox "
      done ;;
    scrolling)
      DISPLAY=$A xdotool type --window "$XTERM" "for i in \$(seq 1 $((SECS * 20))); do echo line \$i of the scrolling scene, some text to fill the row; sleep 0.05; done"
      DISPLAY=$A xdotool key --window "$XTERM" Return
      sleep "$SECS" ;;
    dragging)
      local i=0 end=$((SECONDS + SECS))
      while ((SECONDS < end)); do
        i=$((i + 1))
        DISPLAY=$A xdotool windowmove "$XTERM" $((300 + (i * 7) % 600)) $((200 + (i * 5) % 300))
        sleep 0.033
      done ;;
  esac
}

measure() { # SYSTEM SCENE: prints "bytes/s cpu%"
  local system=$1 name=$2 port=$((20000 + RANDOM % 20000)) pport server viewer
  pport=$((port + 1))
  case $system in
    lookout)
      DISPLAY=$A RUST_LOG=warn LOOKOUT_NO_CONFIG=1 "$BIN/lookout-server" --bind 127.0.0.1:$port \
        --token $TOKEN --identity "$WORK/id" > "$WORK/agent.out" 2>/dev/null & server=$!
      sleep 1
      local fp; fp=$(awk '/^fingerprint/ {print $2}' "$WORK/agent.out")
      python3 "$WORK/proxy.py" $pport $port "$WORK/count" & local proxy=$!
      sleep 0.3
      DISPLAY=$B LOOKOUT_NO_CONFIG=1 "$BIN/lookout-viewer" 127.0.0.1:$pport --fingerprint "$fp" \
        --token $TOKEN &>/dev/null & viewer=$! ;;
    x11vnc)
      x11vnc -display $A -rfbport $port -nopw -forever -shared -quiet -bg -o "$WORK/x11vnc.log" \
        -pidfile "$WORK/x11vnc.pid" &>/dev/null
      server=$(cat "$WORK/x11vnc.pid")
      python3 "$WORK/proxy.py" $pport $port "$WORK/count" & local proxy=$!
      sleep 0.3
      DISPLAY=$B xtigervncviewer 127.0.0.1::$pport &>/dev/null & viewer=$! ;;
  esac
  sleep 3 # connected, first full picture sent
  local b0 c0 b1 c1
  b0=$(cat "$WORK/count"); c0=$(cpu_ticks "$server")
  scene "$name"
  sleep 0.5
  b1=$(cat "$WORK/count"); c1=$(cpu_ticks "$server")
  kill "$viewer" "$proxy" "$server" 2>/dev/null || true
  wait "$viewer" "$proxy" 2>/dev/null || true
  sleep 0.5
  local hz; hz=$(getconf CLK_TCK)
  awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v s="$SECS" -v hz="$hz" \
    'BEGIN { printf "%.1f KiB/s, CPU %.1f%%", b / 1024 / (s + 0.5), 100 * c / hz / (s + 0.5) }'
}

echo "scene (${SECS} s) | lookout | x11vnc + xtigervncviewer"
for name in typing scrolling dragging; do
  l=$(measure lookout $name)
  v=$(measure x11vnc $name)
  echo "$name | $l | $v"
done
