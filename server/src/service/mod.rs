//! `lookout-server service install|uninstall|status`: the agent as a
//! systemd user service, started with the graphical session.
//!
//! `install` writes the unit ([`unit::unit_text`]) atomically into the
//! user's unit directory, then asks the user manager to reload and to
//! enable and start it. Without a reachable user manager (no systemd, an
//! ssh session without lingering, a container) the unit is still written
//! and the commands to run later are printed, with the reason.

mod unit;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use unit::{UNIT_NAME, unit_text};

/// What `service` cannot do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No `$XDG_CONFIG_HOME` nor home to put the unit in.
    #[error("no config directory for the unit (is HOME set?)")]
    NoConfigDir,
    /// Writing or removing the unit failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: "write", "remove", "create".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the user's units live and how to reach the user manager.
#[derive(Debug, Clone)]
pub struct ServiceEnv {
    /// `$XDG_CONFIG_HOME/systemd/user`.
    pub unit_dir: PathBuf,
    /// The `systemctl` program (a test passes one that is not there).
    pub systemctl: PathBuf,
}

impl ServiceEnv {
    /// The real places: the user's config directory and `systemctl` on PATH.
    pub fn standard() -> Result<Self, ServiceError> {
        let config = dirs::config_dir().ok_or(ServiceError::NoConfigDir)?;
        Ok(Self {
            unit_dir: config.join("systemd").join("user"),
            systemctl: PathBuf::from("systemctl"),
        })
    }

    /// The unit file's path.
    pub fn unit_path(&self) -> PathBuf {
        self.unit_dir.join(UNIT_NAME)
    }

    /// Runs `systemctl --user ARGS`: its stdout, or why it failed.
    fn systemctl(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.systemctl)
            .arg("--user")
            .args(args)
            .output()
            .map_err(|err| format!("cannot run {}: {err}", self.systemctl.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            Err(if stderr.is_empty() { stdout } else { stderr })
        }
    }
}

/// The commands `install` runs, shown when it cannot.
const ENABLE_COMMANDS: &str =
    "  systemctl --user daemon-reload\n  systemctl --user enable --now lookout-server";

/// Writes the unit for `exe` (and `--config config`), then enables and
/// starts it if the user manager answers. Returns what to tell the user.
pub fn install(
    env: &ServiceEnv,
    exe: &Path,
    config: Option<&Path>,
) -> Result<String, ServiceError> {
    let path = env.unit_path();
    write_atomically(&path, unit_text(exe, config).as_bytes())?;
    let mut report = format!("wrote {}\n", path.display());
    let enabled = env
        .systemctl(&["daemon-reload"])
        .and_then(|_| env.systemctl(&["enable", "--now", UNIT_NAME]));
    match enabled {
        Ok(_) => report.push_str(
            "enabled and started: it starts with every graphical session from now on\n\
             logs: journalctl --user -u lookout-server\n",
        ),
        Err(why) => report.push_str(&format!(
            "the systemd user manager is not reachable ({why}); \
             in your graphical session, run:\n{ENABLE_COMMANDS}\n"
        )),
    }
    Ok(report)
}

/// Stops, disables and removes the unit `install` wrote.
pub fn uninstall(env: &ServiceEnv) -> Result<String, ServiceError> {
    let path = env.unit_path();
    let mut report = String::new();
    if let Err(why) = env.systemctl(&["disable", "--now", UNIT_NAME]) {
        report.push_str(&format!("could not stop and disable it ({why})\n"));
    }
    match std::fs::remove_file(&path) {
        Ok(()) => report.push_str(&format!("removed {}\n", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            report.push_str(&format!("{} was not installed\n", path.display()));
        }
        Err(source) => {
            return Err(ServiceError::Io {
                action: "remove",
                path,
                source,
            });
        }
    }
    let _ = env.systemctl(&["daemon-reload"]);
    Ok(report)
}

/// Whether the unit is installed, enabled and running.
pub fn status(env: &ServiceEnv) -> String {
    let path = env.unit_path();
    let installed = if path.exists() {
        format!("installed: {}", path.display())
    } else {
        format!("installed: no ({} does not exist)", path.display())
    };
    // `is-enabled` and `is-active` print the state even when they fail
    // (disabled, inactive): only a manager that does not answer is an error.
    let state = |what: &str| match env.systemctl(&[what, UNIT_NAME]) {
        Ok(state) => state,
        Err(why) if !why.contains('\n') && !why.contains(' ') => why,
        Err(why) => format!("unknown (the systemd user manager is not reachable: {why})"),
    };
    let enabled = if path.exists() {
        state("is-enabled")
    } else {
        "no (not installed)".to_owned()
    };
    format!(
        "{installed}\nenabled: {enabled}\nactive: {}\n",
        state("is-active")
    )
}

/// Writes `bytes` to `path` under a temporary name in the same directory,
/// then renames it into place: a reader sees the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ServiceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| ServiceError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    let temp = dir.join(format!(".{UNIT_NAME}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(source) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(ServiceError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
