//! Every integration test of lookout, in one binary (as ripgrep does), one
//! module per subject. The harness is this crate's library: an in-process
//! agent with a fake screen (`agent`), a scripted fake agent for the viewer
//! (`fake_agent`), a protocol-level test client (`client`), the real
//! binaries as processes (`process`) and virtual X displays (`x11`).
//!
//! | module | what runs for real |
//! |---|---|
//! | `agent_session`, `agent_slow_viewer`, `agent_input` | the agent library on loopback, fake screen and input |
//! | `agent_regions` | the agent library's region updates against a screen the test paints |
//! | `x11_capture` | the X11 capturer against Xvfb |
//! | `agent_damage` | the X11 capturer's damage-limited captures against Xvfb, and the agent binary converging while typing |
//! | `agent_x11` | the agent binary on Xvfb: pixels and the X pointer |
//! | `agent_monitors` | the agent binary on Xvfb while `xrandr` changes its monitors |
//! | `agent_faults` | the agent binary while its X server stops and starts again |
//! | `agent_deploy` | the agent binary's config files, `--print-config` and the systemd user unit (checked by `systemd-analyze verify`) |
//! | `agent_record` | the agent binary's `--record-dir`: owner-only files that ffmpeg plays, rotation, the disk-space floor (a tmpfs, as root) |
//! | `agent_control` | the agent binary's control socket: `status`, `kick`, `pause`/`resume`, who may connect, one agent per socket |
//! | `agent_guards` | the agent binary's start-up guards: weak tokens, where a generated token goes |
//! | `security` | the agent binary under abuse: floods, stalls, guesses, impostors |
//! | `discovery` | agent binaries in network namespaces on a bridge found by the viewer's `--discover`; the reply rules on loopback |
//! | `channel_binding` | the agent library over TLS against a relaying man in the middle; ALPN |
//! | `viewer_network`, `viewer_tls` | the viewer library and binary against a fake agent |
//! | `viewer_regions` | the viewer binary and network thread composing region updates from a fake agent |
//! | `viewer_profiles` | the viewer binary's window on Xvfb asking a fake agent for its size, `--max-size`, `--fps`, `--quality` |
//! | `viewer_record` | the viewer binary's `--record` and F6 on Xvfb, the real agent's test pattern, the file read by ffmpeg |
//! | `viewer_x11` | two Xvfb desktops: agent on one, the viewer's window on the other |
//! | `web_transport` | the agent library's browser transport over TLS with a Rust HTTP and WebSocket client |
//! | `web_page` | the page in headless chromium (WebDriver) against the agent binary on Xvfb |
//! | `wayland` | the agent binary in headless sway (wlroots capture and input), foot and xterm in it, `grim` for reference, the viewer binary's `--snapshot` |
//! | `portal` | the portal capturer's PipeWire side against a private PipeWire daemon and a video source the test makes |
//! | `viewer_wall` | sixteen agent binaries on loopback, the viewer's `--wall` window on Xvfb |

#[cfg(target_os = "linux")]
mod agent_control;
#[cfg(target_os = "linux")]
mod agent_damage;
#[cfg(target_os = "linux")]
mod agent_deploy;
#[cfg(target_os = "linux")]
mod agent_faults;
mod agent_guards;
mod agent_input;
#[cfg(target_os = "linux")]
mod agent_monitors;
mod agent_profiles;
mod agent_record;
mod agent_regions;
mod agent_session;
mod agent_slow_viewer;
mod agent_x11;
mod channel_binding;
#[cfg(target_os = "linux")]
mod discovery;
#[cfg(target_os = "linux")]
mod portal;
mod security;
mod viewer_network;
#[cfg(target_os = "linux")]
mod viewer_profiles;
#[cfg(target_os = "linux")]
mod viewer_record;
mod viewer_regions;
mod viewer_tls;
#[cfg(target_os = "linux")]
mod viewer_wall;
mod viewer_x11;
#[cfg(target_os = "linux")]
mod wayland;
#[cfg(target_os = "linux")]
mod x11_capture;
// The browser viewer (§5): its transport with a Rust client, and the page
// in headless chromium.
#[cfg(target_os = "linux")]
mod web_browser;
#[cfg(target_os = "linux")]
mod web_page;
mod web_support;
mod web_transport;
