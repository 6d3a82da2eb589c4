//! Opening one agent full size from its tile: the ordinary viewer, run as
//! a child process (`lookout-viewer HOST`), so steering, F-keys and stats
//! are all there and the wall's loop keeps running. Why a process: the
//! viewer's window loop (`window::Ui::run`) owns its thread until its
//! window closes; running it beside the wall's would mean rewriting it as
//! a step function. The child gets exactly the wall's settings for that
//! agent on its command line (address, pin, timeout) and no config file,
//! and the token through `LOOKOUT_TOKEN` in its environment: never in
//! argv, which other local users can read.

use std::path::Path;
use std::process::{Child, Command};

use crate::cli::Config;
use crate::trust::Trust;

/// Most full views open at once: each is a window, a connection and three
/// threads; a user clicking through a wall needs a handful.
pub const MAX_FULL_VIEWS: usize = 8;

/// The command that opens `config`'s agent full size with the viewer at
/// `exe`.
pub fn full_view_command(exe: &Path, config: &Config) -> Command {
    let mut command = Command::new(exe);
    command.arg(config.target.to_string());
    match &config.trust {
        Trust::Pinned(fingerprint) => {
            command.arg("--fingerprint").arg(fingerprint.to_string());
        }
        Trust::KnownHosts(path) => {
            command.arg("--known-hosts").arg(path);
        }
        Trust::Plain => {
            command.arg("--no-tls");
        }
    }
    command
        .arg("--timeout")
        .arg(config.timeouts.handshake.as_secs().max(1).to_string());
    command.env("LOOKOUT_NO_CONFIG", "1");
    match &config.token {
        Some(token) => command.env("LOOKOUT_TOKEN", token.expose()),
        None => command.env_remove("LOOKOUT_TOKEN"),
    };
    command
}

/// The full views opened from the wall: one per tile at most.
#[derive(Debug, Default)]
pub struct FullViews {
    open: Vec<(usize, Child)>,
}

impl FullViews {
    /// Opens tile `index`'s agent, unless its view is already open or
    /// [`MAX_FULL_VIEWS`] are.
    pub fn open(&mut self, index: usize, config: &Config) {
        self.reap();
        if self.open.iter().any(|(i, _)| *i == index) || self.open.len() >= MAX_FULL_VIEWS {
            return;
        }
        let spawned =
            std::env::current_exe().and_then(|exe| full_view_command(&exe, config).spawn());
        match spawned {
            Ok(child) => {
                tracing::info!(tile = index, target = %config.target, "opened the full view");
                self.open.push((index, child));
            }
            Err(err) => tracing::warn!("cannot open the full view of {}: {err}", config.target),
        }
    }

    /// Forgets the views the user has closed.
    pub fn reap(&mut self) {
        self.open
            .retain_mut(|(_, child)| matches!(child.try_wait(), Ok(None)));
    }
}

impl Drop for FullViews {
    /// The wall closing closes what it opened.
    fn drop(&mut self) {
        for (_, child) in &mut self.open {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Token;
    use crate::target::Target;

    #[test]
    fn the_token_goes_to_the_full_view_in_its_environment_never_in_argv() {
        let config = Config::new(
            Target::parse("127.0.0.1:7000").unwrap(),
            Trust::Plain,
            Some(Token::new("hunter2-hunter2-hunter2")),
        );
        let command = full_view_command(Path::new("/bin/viewer"), &config);
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[..2], ["127.0.0.1:7000", "--no-tls"]);
        assert!(!args.iter().any(|a| a.contains("hunter2")), "{args:?}");
        let env: Vec<_> = command.get_envs().collect();
        assert!(env.contains(&(
            "LOOKOUT_TOKEN".as_ref(),
            Some("hunter2-hunter2-hunter2".as_ref())
        )));
        assert!(env.contains(&("LOOKOUT_NO_CONFIG".as_ref(), Some("1".as_ref()))));
    }

    #[test]
    fn without_a_token_the_full_view_does_not_inherit_one() {
        let config = Config::new(Target::parse("h").unwrap(), Trust::Plain, None);
        let command = full_view_command(Path::new("/bin/viewer"), &config);
        let env: Vec<_> = command.get_envs().collect();
        assert!(env.contains(&("LOOKOUT_TOKEN".as_ref(), None)));
    }
}
