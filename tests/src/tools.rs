//! The harness's programs: finding them (on `PATH`, or in the libexec
//! directories distributions put helper daemons in), running them as the
//! leaders of their own process groups, stopping each group once, and the
//! private directories they run in, removed however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// Where distributions keep programs that are not for `PATH` (the
/// portals: Debian's `/usr/libexec`, Arch's `/usr/lib`...).
const LIBEXEC_DIRS: &[&str] = &[
    "/usr/libexec",
    "/usr/lib",
    "/usr/local/libexec",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

/// Whether `tool` is a file in a directory of `PATH`.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Where program `name` is: on `PATH`, else in a libexec directory.
/// `Err` is the skip message (which package to install).
pub fn find_program(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(LIBEXEC_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
        .ok_or_else(|| {
            format!("{name} is not installed, on PATH or in {LIBEXEC_DIRS:?} (see dev.sh PACKAGES)")
        })
}

/// A child leading its own process group (spawned with
/// `process_group(0)`), killed with its whole group at most once, and
/// only while its pid is still ours: once the leader is reaped its number
/// may lead another test's group.
#[derive(Debug)]
pub struct GroupLeader {
    child: Child,
    reaped: bool,
}

impl GroupLeader {
    /// Spawns `cmd` as a new group's leader.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        let child = cmd.process_group(0).spawn()?;
        Ok(Self {
            child,
            reaped: false,
        })
    }

    /// The leader's pid (its group's id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself (its pipes).
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The leader's exit status if it has ended (it is reaped then, and
    /// its group is not killed any more).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Kills the group and reaps the leader; nothing the second time.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for GroupLeader {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes `dir`, first lazily unmounting what a killed program may have
/// left mounted in it (xdg-document-portal's FUSE `doc`, whose dead mount
/// otherwise keeps the directory in /tmp for good).
pub fn remove_run_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            // A dead FUSE mount cannot even be stat'ed.
            if entry.metadata().is_err() || entry.file_name() == "doc" {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(entry.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the directories `PREFIX<pid>-<n>` of test processes that are
/// gone (killed before their harness could clean up); a running
/// process's are left alone.
pub fn sweep_stale(prefix: &str) {
    let Some((parent, stem)) = prefix.rsplit_once('/') else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(if parent.is_empty() { "/" } else { parent }) else {
        return;
    };
    // Bounded: one pass over the directory's entries.
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(stem)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_run_dir(&entry.path());
        }
    }
}
