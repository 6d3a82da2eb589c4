#!/bin/bash
# 16 release agents on loopback, then `lookout-viewer --wall --discover` with a
# --probe for each (loopback has no broadcast): prints the time to "16 live"
# and the viewer's CPU. Needs Xvfb and xdotool; builds nothing (cargo build
# --release first).
set -u
W="$(mktemp -d)"
B="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release"
Xvfb :577 -screen 0 1600x1000x24 -noreset >/dev/null 2>&1 & XPID=$!
sleep 1
probes=()
pids=()
for i in $(seq 0 15); do
  port=$((17100+i))
  mkdir -p $W/id$i
  LOOKOUT_NO_CONFIG=1 LOOKOUT_CONTROL_SOCKET=$W/c$i.sock $B/lookout-server --bind 127.0.0.1:$port --token wall-e2e-token-0123 --source test-pattern --pattern-size 1280x720 --pattern-seed $i --name wall-$i --identity $W/id$i >$W/a$i.out 2>$W/a$i.err &
  pids+=($!)
  probes+=(--probe 127.0.0.1:$port)
done
sleep 2
start=$(date +%s.%N)
LOOKOUT_NO_CONFIG=1 LOOKOUT_TOKEN=wall-e2e-token-0123 DISPLAY=:577 $B/lookout-viewer --wall --discover "${probes[@]}" --known-hosts $W/kh >$W/v.out 2>$W/v.err &
VPID=$!
for k in $(seq 1 300); do
  w=$(DISPLAY=:577 xdotool search --name "lookout wall" 2>/dev/null | head -1)
  if [ -n "$w" ]; then
    t=$(DISPLAY=:577 xdotool getwindowname $w)
    case "$t" in *"16 live"*) end=$(date +%s.%N); echo "16 live after $(echo "$end - $start" | bc) s: $t"; break;; esac
  fi
  sleep 0.05
done
sleep 5
ps -o pid,etimes,times,cmd -p $VPID | tail -1
awk '{print "viewer cpu ticks", $14+$15}' /proc/$VPID/stat
kill $VPID "${pids[@]}" $XPID 2>/dev/null
wait 2>/dev/null
rm -rf "$W"
