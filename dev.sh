#!/usr/bin/env bash
# One entry point for setting up, running and testing lookout on Debian/Ubuntu.
#
#   ./dev.sh run    install what is missing, build, start an agent and a viewer
#   ./dev.sh test   install what is missing, then fmt, clippy and every test
#   ./dev.sh deps   only install the system packages
#   ./dev.sh fuzz   fuzz every network decoder for a short time (test does too)
#   ./dev.sh audit  check the locked dependencies against RustSec (test does too)
#   ./dev.sh deb    build the Debian package (release): target/debian/lookout_*.deb
#   ./dev.sh package  build the package, install it, check it, remove it (test
#                   does too; needs root on Debian, skipped otherwise)
#   ./dev.sh bench [ARGS]  install the bench's packages too, build release, run
#                   the end-to-end bench (ARGS go to it; see BENCHMARKS.md)
#
# Needs Rust (rustup) already; everything else it installs with apt-get.
set -euo pipefail
cd "$(dirname "$0")"

# Build: xcap (PipeWire, Wayland, XCB, D-Bus), enigo (X11), minifb (X11,
# xkbcommon). Run/test: Xvfb as a virtual screen, xdotool and x11-utils to
# drive and read it, ImageMagick to screenshot it, ffmpeg (ffprobe) to
# read the viewer's recordings. cmake and nasm build
# libjpeg-turbo (the agent's JPEG encoder) with its SIMD code. systemd
# brings systemd-analyze (the unit's check), dpkg-dev dpkg-shlibdeps (the
# package's runtime dependencies).
PACKAGES=(
  build-essential pkg-config clang libclang-dev cmake nasm
  libpipewire-0.3-dev libwayland-dev libegl-dev libgbm-dev libdbus-1-dev
  libx11-dev libx11-xcb-dev libxcb1-dev libxcb-randr0-dev libxcb-shm0-dev
  libxrandr-dev libxkbcommon-dev libxcursor-dev libxi-dev libxdo-dev
  xvfb xdotool x11-utils x11-xserver-utils imagemagick ffmpeg
  systemd dpkg-dev
  # The browser viewer's tests (web_page): headless chromium over WebDriver,
  # an xterm to type into.
  chromium chromium-driver xterm
  # The Wayland tests (tests/tests/wayland.rs): headless sway, its
  # screenshots, a native and an Xwayland terminal.
  sway grim foot xwayland
  # The portal tests (tests/tests/portal.rs): a private PipeWire with its
  # session manager on a private D-Bus, and the wlroots desktop portal.
  pipewire-bin wireplumber dbus-daemon xdg-desktop-portal xdg-desktop-portal-wlr
)
# The end-to-end bench only (not CI's test): x11vnc and TigerVNC's viewer to
# compare against, xterm for the everyday scenes, iproute2 (ip, tc) for the
# slow link's namespaces.
BENCH_PACKAGES=(x11vnc tigervnc-viewer xterm iproute2)
# The Wayland bench compares against wayvnc on the same headless sway.
BENCH_PACKAGES+=(wayvnc)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs PACKAGES and the packages given as arguments, where missing.
deps() {
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
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
  package
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
  for target in frame_decoder client_message server_message handshake viewer_jpeg discovery; do
    mkdir "$corpus/$target"
    step "fuzz $target" cargo fuzz run "${opts[@]}" "$target" "$corpus/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10
  done
}

# The end-to-end bench (tests/benches/e2e/): every figure of BENCHMARKS.md's
# end-to-end sections in one run, against x11vnc in the same run. The slow
# link part needs root (network namespaces) and says so when skipped.
bench() {
  deps "${BENCH_PACKAGES[@]}"
  step "release build" cargo build --release --locked -p lookout-server -p lookout-viewer --bins
  step "e2e bench" cargo bench --locked -p lookout-tests --bench e2e -- "$@"
}

# Builds the Debian package with cargo-deb (installed from crates.io, pinned,
# as cargo-audit is): both binaries in release, then the man pages,
# completions and systemd unit generated from the code (`cargo xtask dist`),
# then the package, in $CARGO_TARGET_DIR/debian.
deb() {
  command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
  local target="${CARGO_TARGET_DIR:-$PWD/target}"
  step "release build" cargo build --release --locked -p lookout-server -p lookout-viewer --bins
  rm -rf "$target/release/dist"
  step "package assets" cargo xtask dist "$target/release/dist"
  # Debian policy: man pages compressed; -n leaves out the time stamp, so the
  # same source gives the same bytes.
  gzip -9nf "$target/release/dist/man/"*.1
  # --strip: the release profile keeps line tables (for backtraces in
  # development); the package ships without them, 6 times smaller.
  step "cargo deb" cargo deb --locked -p lookout-server --no-build --strip
}

# Builds the package, installs it with apt-get as a user would (runtime
# dependencies resolved), checks what it installed, removes it and checks
# nothing is left. Root on Debian only (CI is); skipped elsewhere, saying so.
package() {
  if [ "$(id -u)" -ne 0 ] || [ ! -f /etc/debian_version ]; then
    log "package test skipped: it installs a .deb with apt-get, so it needs root on Debian"
    return 0
  fi
  if dpkg-query -W -f='${Status}' lookout 2>/dev/null | grep -q "install ok installed"; then
    echo "the lookout package is installed on this machine: the package test would remove it; remove it first" >&2
    exit 1
  fi
  deb
  local target="${CARGO_TARGET_DIR:-$PWD/target}" file
  file="$(ls -t "$target"/debian/lookout_*.deb | head -n 1)"
  # In a process of its own, so that `set -e` stops it at the first failed
  # check and the package is still removed here, whatever happened.
  # (Not through `step`: a function on the left of `||` runs without
  # `set -e`, and would hide the failure.)
  local status=0 started=$SECONDS
  log "package install"
  "$0" package-check "$file" || status=$?
  TIMINGS+=("package install=$((SECONDS - started))")
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq lookout >/dev/null 2>&1 || true
  return "$status"
}

package_check() {
  local file="$1" tmp files left=()
  tmp="$(mktemp -d)"
  trap "rm -rf '$tmp'" EXIT
  if dpkg-deb -f "$file" Depends | grep -q -- '-dev\b'; then
    echo "the package depends on -dev packages: $(dpkg-deb -f "$file" Depends)" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$file" >/dev/null
  files="$(dpkg -L lookout)"
  /usr/bin/lookout-server --version
  /usr/bin/lookout-viewer --version
  for f in /usr/share/man/man1/lookout-server.1.gz /usr/share/man/man1/lookout-viewer.1.gz \
    /usr/share/bash-completion/completions/lookout-server /usr/share/zsh/vendor-completions/_lookout-viewer \
    /usr/share/fish/vendor_completions.d/lookout-server.fish /usr/share/doc/lookout/copyright \
    /usr/share/doc/lookout/examples/server.toml /usr/lib/systemd/user/lookout-server.service; do
    grep -qx "$f" <<<"$files" || { echo "the package lacks $f" >&2; return 1; }
  done
  grep -qx 'ExecStart=/usr/bin/lookout-server' /usr/lib/systemd/user/lookout-server.service
  mkdir -m 700 "$tmp/run"
  XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user verify --man=no /usr/lib/systemd/user/lookout-server.service
  # The installed agent reads the installed example: --print-config names
  # the file's line for what it sets...
  local example=/usr/share/doc/lookout/examples/server.toml
  env -u LOOKOUT_NO_CONFIG HOME="$tmp" /usr/bin/lookout-server --config "$example" --print-config | tee "$tmp/effective"
  grep -q "^max_viewers = 16 .*# $example line [0-9]" "$tmp/effective"
  # ...and an agent started with it listens and says so, with the file's fps.
  HOME="$tmp" RUST_LOG=info /usr/bin/lookout-server --config "$example" --source test-pattern \
    --bind 127.0.0.1:0 --identity "$tmp/identity" --token "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    >"$tmp/out" 2>"$tmp/log" &
  local agent=$! tries
  for tries in $(seq 100); do # at most 20 s
    grep -qs listening "$tmp/log" && break
    sleep 0.2
  done
  kill "$agent" && wait "$agent" || true
  grep -q 'listening .*fps=30' "$tmp/log" || { cat "$tmp/log" >&2; return 1; }
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq lookout >/dev/null
  while read -r f; do
    [ -f "$f" ] || [ -L "$f" ] && left+=("$f")
  done <<<"$files"
  if ((${#left[@]})); then
    echo "left behind after purge: ${left[*]}" >&2
    return 1
  fi
  echo "package: installed, checked and removed cleanly ($(basename "$file"))"
}

case "${1:-}" in
  run) run ;;
  test) test_all ;;
  deps) deps ;;
  fuzz) fuzz ;;
  audit) audit ;;
  deb) deb ;;
  package) package ;;
  bench) shift; bench "$@" ;;
  package-check) package_check "$2" ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
