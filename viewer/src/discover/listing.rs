//! `lookout-viewer --discover`: what [`super::discover`] found, one line per
//! agent on stdout, with what the known-hosts file says of it.
//!
//! ```text
//! kiosk-3  10.0.0.7:6868  sha256:9f2c…  known      auth=token  monitors=2
//! lab-pc   10.0.0.9:6868  sha256:1a0b…  new        auth=token  monitors=1
//! office   10.0.0.4:6868  sha256:77de…  DIFFERENT  auth=none   monitors=1
//! ```
//!
//! `DIFFERENT` (the known-hosts file pins another identity for that
//! address) also gets a warning on stderr: either the agent got a new
//! identity, or someone else answers in its name. Names are the agents'
//! own text, escaped ([`crate::untrusted::shown`]).

use std::fmt::Write;
use std::path::Path;

use lookout_protocol::{AuthMode, Fingerprint};

use super::{Found, Options, discover};
use crate::trust::{KnownHostsError, pinned};
use crate::untrusted::shown;

/// What the known-hosts file says of a found agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Pinned, to the fingerprint it gave.
    Known,
    /// Not in the file.
    New,
    /// Pinned to another fingerprint.
    Different {
        /// What the file pins.
        pinned: Fingerprint,
        /// On which line.
        line: usize,
    },
}

/// What the known-hosts file at `path` says of `found`. Blocking.
pub fn standing(found: &Found, path: &Path) -> Result<Standing, KnownHostsError> {
    Ok(match pinned(path, &found.target())? {
        None => Standing::New,
        Some((fingerprint, _)) if fingerprint == found.fingerprint => Standing::Known,
        Some((pinned, line)) => Standing::Different { pinned, line },
    })
}

/// One line of the listing, without a newline.
pub fn line(found: &Found, standing: &Standing) -> String {
    let status = match standing {
        Standing::Known => "known",
        Standing::New => "new",
        Standing::Different { .. } => "DIFFERENT",
    };
    let auth = match found.auth {
        AuthMode::Token => "token",
        AuthMode::None => "none",
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{}  {}  {}  {status}  auth={auth}  monitors={}",
        shown(&found.name),
        found.addr,
        found.fingerprint,
        found.monitors
    );
    out
}

/// Discovers, prints the listing, and returns the exit status: 0 when at
/// least one agent answered, 1 when none did or discovery failed.
/// `known_hosts` is the file to compare with (`None`: every agent is
/// `new`). Blocking.
pub fn list(options: &Options, known_hosts: Option<&Path>) -> u8 {
    let found = match discover(options) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("lookout-viewer: {err}");
            return 1;
        }
    };
    if found.is_empty() {
        eprintln!(
            "lookout-viewer: no agent answered within {:?}",
            options.timeout
        );
        return 1;
    }
    for agent in &found {
        let standing = match known_hosts.map(|path| standing(agent, path)) {
            None => Standing::New,
            Some(Ok(standing)) => standing,
            Some(Err(err)) => {
                eprintln!("lookout-viewer: {}: {err}", path_label(known_hosts));
                return 1;
            }
        };
        if let Standing::Different { pinned, line } = &standing {
            eprintln!("{}", warning(agent, pinned, *line, known_hosts));
        }
        println!("{}", line(agent, &standing));
    }
    0
}

fn path_label(path: Option<&Path>) -> String {
    path.map_or_else(String::new, |p| p.display().to_string())
}

fn warning(agent: &Found, pinned: &Fingerprint, line: usize, file: Option<&Path>) -> String {
    format!(
        "WARNING: the agent answering as {} at {} claims {}, but line {line} of {} pins {pinned} \
         for that address. Someone may be impersonating it, or it got a new identity. A \
         connection would be refused; do not trust it until you know why.",
        shown(&agent.name),
        agent.addr,
        agent.fingerprint,
        path_label(file),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str) -> Found {
        Found {
            name: name.into(),
            addr: "10.0.0.7:6868".parse().unwrap(),
            fingerprint: Fingerprint::of_certificate(b"a"),
            auth: AuthMode::Token,
            monitors: 2,
        }
    }

    #[test]
    fn a_line_shows_name_address_fingerprint_standing_auth_and_monitors() {
        let fp = Fingerprint::of_certificate(b"a");
        assert_eq!(
            line(&found("kiosk-3"), &Standing::Known),
            format!("kiosk-3  10.0.0.7:6868  {fp}  known  auth=token  monitors=2")
        );
        let other = Standing::Different {
            pinned: Fingerprint::of_certificate(b"b"),
            line: 3,
        };
        assert!(line(&found("x"), &other).contains("  DIFFERENT  "));
    }

    #[test]
    fn a_hostile_name_cannot_reach_the_terminal_raw() {
        let shown = line(&found("evil\x1b[2J\nfake  10.0.0.1:6868"), &Standing::New);
        assert!(!shown.contains('\n') && !shown.contains('\x1b'), "{shown}");
    }

    #[test]
    fn the_known_hosts_file_decides_known_new_and_different() {
        let dir = std::env::temp_dir().join(format!("lookout-discover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("known_hosts");
        let a = Fingerprint::of_certificate(b"a");
        let b = Fingerprint::of_certificate(b"b");
        std::fs::write(&path, format!("10.0.0.7:6868 {a}\n10.0.0.8:6868 {b}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let at = |addr: &str| Found {
            addr: addr.parse().unwrap(),
            ..found("k")
        };
        assert_eq!(
            standing(&at("10.0.0.7:6868"), &path).unwrap(),
            Standing::Known
        );
        assert_eq!(
            standing(&at("10.0.0.9:6868"), &path).unwrap(),
            Standing::New
        );
        assert_eq!(
            standing(&at("10.0.0.8:6868"), &path).unwrap(),
            Standing::Different { pinned: b, line: 2 }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
