#!/usr/bin/env bash
# One entry point for setting up, running and testing lookout on Debian/Ubuntu.
#
#   ./dev.sh run    install what is missing, build, start an agent and a viewer
#   ./dev.sh test   install what is missing, then fmt, clippy and every test
#   ./dev.sh deps   only install the system packages
#   ./dev.sh fuzz   fuzz every network decoder for a short time (test does too)
#   ./dev.sh audit  check the locked dependencies against RustSec (test does too)
#
# Needs Rust (rustup) already; everything else it installs with apt-get.
set -euo pipefail
cd "$(dirname "$0")"

# Build: xcap (PipeWire, Wayland, XCB, D-Bus), enigo (X11), minifb (X11,
# xkbcommon). Run/test: Xvfb as a virtual screen, xdotool and x11-utils to
# drive and read it, ImageMagick to screenshot it. cmake and nasm build
# libjpeg-turbo (the agent's JPEG encoder) with its SIMD code.
PACKAGES=(
  build-essential pkg-config clang libclang-dev cmake nasm
  libpipewire-0.3-dev libwayland-dev libegl-dev libgbm-dev libdbus-1-dev
  libx11-dev libx11-xcb-dev libxcb1-dev libxcb-randr0-dev libxcb-shm0-dev
  libxrandr-dev libxkbcommon-dev libxcursor-dev libxi-dev libxdo-dev
  xvfb xdotool x11-utils x11-xserver-utils imagemagick
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null; then
    echo "Rust is not installed: see https://rustup.rs, then run this again." >&2
    exit 1
  fi
  if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  fi
}

run() {
  deps
  log "building (release)"
  cargo build --release --bins
  exec ./scripts/demo.sh
}

test_all() {
  deps
  step "cargo fmt --check" cargo fmt --all -- --check
  step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
  # The end-to-end tests run the real binaries.
  step "cargo build" cargo build --workspace --bins --locked
  # --no-fail-fast: one failing test binary must not hide the others.
  TEST_LOG="$(mktemp)"
  step "cargo test" tested cargo test --workspace --all-targets --locked --no-fail-fast
  step "doc tests" tested cargo test --workspace --doc --locked
  RUSTDOCFLAGS="-D warnings" step "protocol docs" cargo doc -p lookout-protocol --no-deps --locked
  audit
  fuzz
  log "timings (s): ${TIMINGS[*]}"
  # One closing line for every test run above.
  awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$TEST_LOG"
  rm -f "$TEST_LOG"
}

# Runs a test command, keeping its output for the closing count.
tested() {
  "$@" 2>&1 | tee -a "$TEST_LOG"
}

# Runs a command as one named step and records how long it took.
TIMINGS=()
step() {
  local name="$1" started=$SECONDS
  shift
  log "$name"
  "$@"
  TIMINGS+=("$name=$((SECONDS - started))")
}

# Checks both lock files (the workspace's and the fuzz crate's) against the
# RustSec advisory database: a vulnerability or a warning (unmaintained,
# unsound, yanked) fails the run, unless audit.toml lists it with a reason.
# The database is the offline snapshot beside the project
# (../shared/advisory-db; ADVISORY_DB overrides), so the check never needs
# github.com. cargo-audit is installed from crates.io, pinned, as cargo-fuzz
# is: a fresh machine builds it once (a few minutes on two cores).
audit() {
  local db="${ADVISORY_DB:-../shared/advisory-db}"
  if [ ! -d "$db/crates" ]; then
    echo "no RustSec advisory database at $db (set ADVISORY_DB)" >&2
    exit 1
  fi
  command -v cargo-audit >/dev/null || cargo install cargo-audit --locked --version 0.22.2
  step "cargo audit" cargo audit --no-fetch --db "$db" --deny warnings --file Cargo.lock
  step "cargo audit (fuzz)" cargo audit --no-fetch --db "$db" --deny warnings --file fuzz/Cargo.lock
}

# Runs each fuzz target in fuzz/ for FUZZ_SECONDS (default 20); a crash fails
# the script and leaves its input in fuzz/artifacts/<target>/ (copy it to
# fuzz/regressions/<target>/ to make it a test). Stable Rust: no sanitizer
# (ASan needs nightly), but libFuzzer's coverage, with debug assertions. New
# corpus entries go to a temporary directory, not to the committed seeds.
fuzz() {
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  # Inside the workspace's target directory (CI keeps it between runs).
  local opts=(--sanitizer none --debug-assertions --target-dir "${CARGO_TARGET_DIR:-$PWD/target}/fuzz")
  local seconds="${FUZZ_SECONDS:-20}" corpus target
  step "cargo fuzz build" cargo fuzz build "${opts[@]}"
  corpus="$(mktemp -d)"
  # Double quotes: expanded now, as `corpus` is gone when the trap runs.
  trap "rm -rf '$corpus'" EXIT
  for target in frame_decoder client_message server_message handshake viewer_jpeg; do
    mkdir "$corpus/$target"
    step "fuzz $target" cargo fuzz run "${opts[@]}" "$target" "$corpus/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10
  done
}

case "${1:-}" in
  run) run ;;
  test) test_all ;;
  deps) deps ;;
  fuzz) fuzz ;;
  audit) audit ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
