//! Reading and replacing the known-hosts file the way SSH's `StrictModes`
//! guards its files: whoever can change the file, or replace it in its
//! directory, can make the viewer trust an impostor.
//!
//! * The file and its directory must belong to the current user or root,
//!   and neither may be writable by group or others. Only the directory
//!   that holds the file is checked, not its ancestors.
//! * The file itself is never a symbolic link: it is checked with
//!   `symlink_metadata` and opened with `O_NOFOLLOW`, and the checks are made
//!   on the opened file, so a swap between check and open does not help.
//! * It is replaced, never edited: the new text goes to a temporary file in
//!   the same directory (mode 0600), which is synced and renamed over the
//!   old one, and the directory is synced. A crash leaves the old file or
//!   the new one, never a line cut short.
//!
//! The rules on owner and mode are pure functions of the numbers, so they
//! are tested without needing another user.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::known_hosts::KnownHostsError;

/// The file's contents after the checks; `None` when there is no file.
pub(super) fn read(path: &Path) -> Result<Option<Vec<u8>>, KnownHostsError> {
    check_dir(&dir_of(path))?;
    match fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
        Ok(meta) if meta.file_type().is_symlink() => return Err(KnownHostsError::Symlink),
        Ok(meta) if !meta.is_file() => return Err(KnownHostsError::NotAFile),
        Ok(_) => {}
    }
    let mut file = open_no_follow(path)?;
    check_file(path, &file.metadata()?)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Replaces the file with `contents` atomically, creating its directory
/// (0700) if needed.
pub(super) fn replace(path: &Path, contents: &[u8]) -> Result<(), KnownHostsError> {
    let dir = dir_of(path);
    create_private_dir(&dir)?;
    check_dir(&dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "known_hosts".into(), |n| n.to_string_lossy());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = write_new_private(&temp, contents)
        .and_then(|()| fs::rename(&temp, path))
        .and_then(|()| File::open(&dir)?.sync_all());
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    Ok(written?)
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A new file, owner-only, synced; fails if the name exists (which also
/// means it never follows a symlink).
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> Result<File, KnownHostsError> {
    use std::os::unix::fs::OpenOptionsExt;
    // The flag is a small positive bit (0o400000 on Linux): no sign change.
    let no_follow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    OpenOptions::new()
        .read(true)
        .custom_flags(no_follow)
        .open(path)
        .map_err(|err| match rustix::io::Errno::from_io_error(&err) {
            // What O_NOFOLLOW answers for a link swapped in after the check.
            Some(rustix::io::Errno::LOOP) => KnownHostsError::Symlink,
            _ => err.into(),
        })
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> Result<File, KnownHostsError> {
    Ok(File::open(path)?)
}

/// The directory may not be changed by anyone but its owner, who must be
/// the current user or root. A missing directory passes: there is no file
/// to trust yet, and [`replace`] creates it private.
#[cfg(unix)]
fn check_dir(dir: &Path) -> Result<(), KnownHostsError> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::metadata(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    check_owner(dir, meta.uid())?;
    if writable_by_others(meta.mode()) {
        return Err(KnownHostsError::DirTooOpen(dir.to_owned()));
    }
    Ok(())
}

#[cfg(unix)]
fn check_file(path: &Path, meta: &fs::Metadata) -> Result<(), KnownHostsError> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() {
        return Err(KnownHostsError::NotAFile);
    }
    check_owner(path, meta.uid())?;
    if writable_by_others(meta.mode()) {
        return Err(KnownHostsError::FileTooOpen(path.to_owned()));
    }
    Ok(())
}

#[cfg(unix)]
fn check_owner(path: &Path, owner: u32) -> Result<(), KnownHostsError> {
    let me = rustix::process::geteuid().as_raw();
    if owner_may_be_trusted(owner, me) {
        Ok(())
    } else {
        Err(KnownHostsError::WrongOwner {
            path: path.to_owned(),
            owner,
            me,
        })
    }
}

#[cfg(not(unix))]
fn check_dir(_dir: &Path) -> Result<(), KnownHostsError> {
    Ok(())
}

#[cfg(not(unix))]
fn check_file(_path: &Path, meta: &fs::Metadata) -> Result<(), KnownHostsError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(KnownHostsError::NotAFile)
    }
}

/// The owner is us, or root (who could change anything anyway).
fn owner_may_be_trusted(owner: u32, me: u32) -> bool {
    owner == me || owner == 0
}

/// Group or others may write. The sticky bit does not make a shared
/// directory safe: others may still create the file before we do.
fn writable_by_others(mode: u32) -> bool {
    mode & 0o022 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh private directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "lookout-known-hosts-{label}-{}-{nanos}",
                std::process::id()
            ));
            create_private_dir(&dir).unwrap();
            Self(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join("known_hosts")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_group_writable_known_hosts_is_refused() {
        let scratch = Scratch::new("group");
        let path = scratch.file();
        replace(&path, b"# pins\n").unwrap();
        assert!(read(&path).unwrap().is_some());
        chmod(&path, 0o620);
        let err = read(&path).unwrap_err();
        assert!(matches!(err, KnownHostsError::FileTooOpen(_)), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        // Readable by others is fine: the file holds no secret.
        chmod(&path, 0o644);
        assert!(read(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_known_hosts_in_a_directory_others_may_write_is_refused() {
        let scratch = Scratch::new("opendir");
        let path = scratch.file();
        replace(&path, b"# pins\n").unwrap();
        chmod(&scratch.0, 0o777);
        let err = read(&path).unwrap_err();
        assert!(matches!(err, KnownHostsError::DirTooOpen(_)), "{err}");
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        // Even with no file yet: someone else could plant one.
        fs::remove_file(&path).unwrap();
        assert!(read(&path).is_err());
        assert!(replace(&path, b"").is_err());
        chmod(&scratch.0, 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_known_hosts_is_refused() {
        let scratch = Scratch::new("symlink");
        let real = scratch.0.join("elsewhere");
        replace(&real, b"# pins\n").unwrap();
        let path = scratch.file();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, KnownHostsError::Symlink), "{err}");
        // And the no-follow open on its own, for a link swapped in later.
        assert!(matches!(
            open_no_follow(&path),
            Err(KnownHostsError::Symlink)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn known_hosts_is_replaced_atomically() {
        use std::os::unix::fs::MetadataExt;
        let scratch = Scratch::new("atomic");
        let path = scratch.file();
        replace(&path, b"old:6868 line\n").unwrap();
        // A reader that opened the old file keeps reading the old text: the
        // new text is a new file renamed over the name, not an edit.
        let mut reader = File::open(&path).unwrap();
        let old_inode = fs::metadata(&path).unwrap().ino();
        replace(&path, b"old:6868 line\nnew:6868 line\n").unwrap();
        assert_ne!(fs::metadata(&path).unwrap().ino(), old_inode);
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old:6868 line\n");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "old:6868 line\nnew:6868 line\n"
        );
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(&scratch.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["known_hosts"], "no temporary file is left");
    }

    #[test]
    fn a_known_hosts_of_another_user_is_refused() {
        assert!(owner_may_be_trusted(1000, 1000));
        assert!(owner_may_be_trusted(0, 1000));
        assert!(!owner_may_be_trusted(1001, 1000));
        assert!(owner_may_be_trusted(0, 0));
        assert!(!owner_may_be_trusted(1000, 0));
    }

    #[test]
    fn write_bits_for_group_or_others_are_too_open() {
        assert!(!writable_by_others(0o100600));
        assert!(!writable_by_others(0o100644));
        assert!(!writable_by_others(0o40755));
        assert!(writable_by_others(0o100620));
        assert!(writable_by_others(0o100602));
        assert!(writable_by_others(0o41777));
    }
}
