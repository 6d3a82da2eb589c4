//! The systemd user unit's text: one function, so the unit `service
//! install` writes and the one the Debian package ships are the same.
//!
//! Why each hardening line is there, and why some are not:
//!
//! * `ProtectSystem=strict` makes the whole file system read-only to the
//!   agent. It writes in two places only: its identity and a generated
//!   token (both under `~/.config/lookout-server`, see `tls::store` and
//!   `secret::save_token`), and `ConfigurationDirectory=`/`StateDirectory=`
//!   keep those writable (in a user unit they are `$XDG_CONFIG_HOME/...`
//!   and `$XDG_STATE_HOME/...`, made 0700). Connecting to the X server's
//!   socket in a read-only `/tmp/.X11-unix` still works (connecting is not
//!   writing), and MIT-SHM segments come as file descriptors.
//! * `PrivateTmp=` is left off: X clients on Linux try the abstract socket
//!   `@/tmp/.X11-unix/X0` first, which a private `/tmp` does not hide (we
//!   checked: the agent captures from Xvfb inside `unshare -m` with an empty
//!   tmpfs on `/tmp`), but X servers started with `-nolisten local` have no
//!   abstract socket, and display managers such as SDDM keep the
//!   `XAUTHORITY` cookie in `/tmp`: there a private `/tmp` breaks capture,
//!   and the agent keeps nothing in `/tmp` that it would protect.
//! * No `ProtectHome=`: the identity and config live in the home.
//! * The session's `DISPLAY`/`WAYLAND_DISPLAY`/`XAUTHORITY` come from the
//!   user manager's environment, which desktop sessions fill with
//!   `systemctl --user import-environment` (or `dbus-update-activation-environment --systemd`)
//!   before they start `graphical-session.target`.

use std::path::Path;

/// The unit's file name.
pub const UNIT_NAME: &str = "lookout-server.service";

/// How long the restart limit counts failures, and how many it allows.
const START_LIMIT_INTERVAL_SECS: u32 = 300;
const START_LIMIT_BURST: u32 = 5;
/// The pause between a failure and the restart.
const RESTART_SECS: u32 = 5;

/// The unit that starts `exe` (an absolute path) with the graphical
/// session, with `--config FILE` if `config` is given.
pub fn unit_text(exe: &Path, config: Option<&Path>) -> String {
    let mut exec = quote(exe);
    if let Some(config) = config {
        exec.push_str(" --config ");
        exec.push_str(&quote(config));
    }
    format!(
        "\
# Written by `lookout-server service install` (or shipped by the package).
# Settings go in ~/.config/lookout-server/config.toml, not here: this file
# may be read by anyone. Logs: journalctl --user -u lookout-server.
# An identity outside ~/.config/lookout-server needs a drop-in
# (systemctl --user edit lookout-server) with ReadWritePaths=DIR.
[Unit]
Description=lookout screen-sharing agent
Documentation=man:lookout-server(1)
PartOf=graphical-session.target
After=graphical-session.target
StartLimitIntervalSec={START_LIMIT_INTERVAL_SECS}
StartLimitBurst={START_LIMIT_BURST}

[Service]
Type=exec
ExecStart={exec}
Restart=on-failure
RestartSec={RESTART_SECS}
# Logs go to the journal (stdout and stderr). A generated token never
# does: without a terminal the agent writes it to an owner-only file.
ConfigurationDirectory=lookout-server
ConfigurationDirectoryMode=0700
StateDirectory=lookout-server
StateDirectoryMode=0700
NoNewPrivileges=yes
ProtectSystem=strict
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes

[Install]
WantedBy=graphical-session.target
"
    )
}

/// `path` as systemd reads it in `ExecStart=`: quoted when it has a space,
/// `%` doubled (systemd's specifier escape), `\\` and `\"` escaped.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy().replace('%', "%%");
    if text.contains([' ', '"', '\\', '\'']) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_starts_with_the_graphical_session_and_restarts_within_a_limit() {
        let unit = unit_text(Path::new("/usr/bin/lookout-server"), None);
        for line in [
            "ExecStart=/usr/bin/lookout-server\n",
            "PartOf=graphical-session.target\n",
            "After=graphical-session.target\n",
            "WantedBy=graphical-session.target\n",
            "Restart=on-failure\n",
            "StartLimitBurst=5\n",
            "NoNewPrivileges=yes\n",
            "ProtectSystem=strict\n",
        ] {
            assert!(unit.contains(line), "{line} missing from\n{unit}");
        }
        assert!(!unit.contains("PrivateTmp"), "{unit}");
    }

    #[test]
    fn exec_start_quotes_odd_paths_and_adds_the_config() {
        let unit = unit_text(
            Path::new("/opt/my tools/lookout-server"),
            Some(Path::new("/etc/lookout/100%.toml")),
        );
        assert!(
            unit.contains(
                "ExecStart=\"/opt/my tools/lookout-server\" --config /etc/lookout/100%%.toml\n"
            ),
            "{unit}"
        );
    }
}
