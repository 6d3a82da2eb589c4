//! The recording directory and its files: owner-only, never following a
//! link, never overwriting; and how much room is left.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The directory could not be made or is not a directory.
    #[error("recording directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the recording thread")]
    Thread(#[source] io::Error),
}

/// Makes `dir` (and its parents) if missing, owner-only; refuses a path
/// that is not a directory. An existing directory keeps its mode (the
/// files in it are owner-only whatever it is), but one that others may
/// write to is worth a warning: they could delete the recordings.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), RecordError> {
    let failed = |source| RecordError::Dir {
        path: dir.to_owned(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed)?;
    let meta = std::fs::metadata(dir).map_err(failed)?;
    if !meta.is_dir() {
        return Err(failed(io::Error::other("not a directory")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o002 != 0 && meta.permissions().mode() & 0o1000 == 0 {
            tracing::warn!(
                dir = %dir.display(),
                "the recording directory is writable by everyone: others can delete recordings"
            );
        }
    }
    Ok(())
}

/// Creates a new recording file in `dir`, owner-only (0600), for monitor
/// `monitor` of agent `agent`, named with the UTC time `now`:
/// `lookout-AGENT-mMONITOR-YYYYmmdd-HHMMSS.mkv`, with `-2`, `-3`... when
/// that name is taken. Never opens an existing file or follows a link.
pub(super) fn create(
    dir: &Path,
    agent: &str,
    monitor: u32,
    now: SystemTime,
) -> io::Result<(PathBuf, File)> {
    let stem = format!(
        "lookout-{}-m{monitor}-{}",
        lookout_mkv::names::file_safe(agent),
        lookout_mkv::names::utc_stamp(now)
    );
    for n in 1..=100u32 {
        let name = if n == 1 {
            format!("{stem}.mkv")
        } else {
            format!("{stem}-{n}.mkv")
        };
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other(format!(
        "100 recordings named {stem} already"
    )))
}

/// Bytes an unprivileged user may still write on `dir`'s file system.
pub(super) fn free_bytes(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_new_owner_only_and_never_overwrite() {
        let dir = std::env::temp_dir().join(format!("lookout-rec-files-{}", std::process::id()));
        prepare_dir(&dir).unwrap();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let (first, _) = create(&dir, "class/room 1", 0, at).unwrap();
        let (second, _) = create(&dir, "class/room 1", 0, at).unwrap();
        assert_eq!(
            first.file_name().unwrap(),
            "lookout-class_room_1-m0-20231114-221320.mkv"
        );
        assert_eq!(
            second.file_name().unwrap(),
            "lookout-class_room_1-m0-20231114-221320-2.mkv"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(free_bytes(&dir).unwrap() > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let path = std::env::temp_dir().join(format!("lookout-rec-notdir-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        assert!(prepare_dir(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
