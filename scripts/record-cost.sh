#!/usr/bin/env bash
# What recording costs, in CPU, on this machine (issue 15's targets):
#   viewer  --record, while the agent sends region updates of a 1080p
#           animated test scene at 30 fps (the viewer composes, the recorder
#           encodes at most 10 a second);
#   agent   --record-dir at the default 10 fps, one viewer taking region
#           updates (so every recorded frame is an encode of its own).
# Each is measured without and with recording, twice, alternating, over
# 10 s after 3 s of warm-up, from /proc. Needs Xvfb and the release build:
#   cargo build --release -p lookout-server -p lookout-viewer --bins
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release}
TOKEN=record-cost-token-123
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
share() { echo "($2-$1)/$tick/$3*100" | bc -l | cut -c1-5; }
work=$(mktemp -d)
Xvfb :79 -screen 0 1920x1080x24 -noreset >/dev/null 2>&1 &
XP=$!
trap 'kill $XP 2>/dev/null; rm -rf "$work"' EXIT
sleep 1

agent() { # extra args...
  "$B/lookout-server" --bind 127.0.0.1:17779 --no-tls --token $TOKEN --source test-pattern \
    --pattern-size 1920x1080 --fps 30 --no-config --control-socket "$work/ctl.sock" "$@" \
    >"$work/agent.log" 2>&1 &
  AP=$!
  sleep 1
}
viewer() { # extra args...
  DISPLAY=:79 "$B/lookout-viewer" 127.0.0.1:17779 --no-tls --token $TOKEN --no-config "$@" \
    >"$work/viewer.log" 2>&1 &
  VP=$!
}
measure() { # pid -> % of a core over 10 s
  local c0 c1
  c0=$(cpu "$1"); sleep 10; c1=$(cpu "$1")
  share "$c0" "$c1" 10
}

for round in 1 2; do
  for mode in plain record; do
    agent
    extra=(); [ $mode = record ] && extra=(--record "$work/viewer.mkv")
    viewer "${extra[@]}"
    sleep 3
    echo "viewer, $mode, round $round: $(measure $VP)% of a core"
    kill -9 $VP; wait $VP 2>/dev/null || true
    kill $AP; wait $AP 2>/dev/null || true
  done
done
for round in 1 2; do
  for mode in plain record; do
    extra=(); [ $mode = record ] && extra=(--record-dir "$work/rec" --record-min-free-mib 100)
    agent "${extra[@]}"
    viewer
    sleep 3
    echo "agent, $mode, round $round: $(measure $AP)% of a core"
    kill -9 $VP; wait $VP 2>/dev/null || true
    kill $AP; wait $AP 2>/dev/null || true
  done
done
