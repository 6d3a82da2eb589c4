//! The identity directory on disk: what state it is in, creating it
//! atomically, and reading its files only when their owner and mode say
//! nobody else can read or change them.
//!
//! **Both files or neither.** A new identity is written into a fresh
//! private directory next to the target (`.NAME.partial-PID-NANOS`), synced,
//! and renamed into place, so the identity directory appears complete or not
//! at all. The rename also replaces an *empty* directory, so `--identity`
//! may name one made beforehand. A crash at any point leaves the target
//! missing or empty, and the next start makes an identity; it may leave a
//! stray `.NAME.partial-*` directory (private), which can be deleted.
//!
//! **After a crash of an older agent**, which wrote `key.pem` and then
//! `cert.pem` in place, the directory may hold a key without a certificate
//! (or with an empty one). The fingerprint is the certificate's, and the
//! agent prints it only once both are written, so no viewer can have pinned
//! such an identity: the leftovers are removed and a new identity is made.
//! A certificate *without* its key is different — it may have been pinned,
//! and only a human can say whether to restore the key or start over — so
//! it stays an error, as does any file that does not parse. A complete
//! identity is never replaced.
//!
//! **Checked at every start**, like ssh checks `~/.ssh`: the directory must
//! be mode 0700 and the files 0600 (nothing for group or others), all owned
//! by the user the agent runs as, and none may be a symbolic link (files are
//! opened with `O_NOFOLLOW` and checked on the open handle).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{CERT_FILE, IdentityError, KEY_FILE};

/// What the identity directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Both files: load them.
    Complete,
    /// Nothing (or an empty directory): make an identity.
    Absent,
}

/// Whether [`create`] put the new identity in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Created {
    /// It did.
    Yes,
    /// Another agent made an identity there first; load that one.
    LostRace,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Looks at `dir`, removing what an older agent's crash left (see the
/// module doc).
pub(super) fn inspect(dir: &Path) -> Result<State, IdentityError> {
    let meta = match fs::symlink_metadata(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(State::Absent),
        other => other.map_err(io_at(dir))?,
    };
    if meta.file_type().is_symlink() {
        return Err(IdentityError::Symlink(dir.to_owned()));
    }
    if !meta.is_dir() {
        return Err(IdentityError::WrongKind {
            path: dir.to_owned(),
            expected: "a directory",
        });
    }
    let (key, cert) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
    let mut others = false;
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let name = entry.map_err(io_at(dir))?.file_name();
        others |= name != KEY_FILE && name != CERT_FILE;
    }
    let cert_len = match fs::symlink_metadata(&cert) {
        Ok(meta) => Some(meta.len()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(io_at(&cert)(err)),
    };
    let has_key = fs::symlink_metadata(&key).is_ok();
    match (has_key, cert_len, others) {
        (true, Some(1..), _) => {
            check_dir(dir)?;
            Ok(State::Complete)
        }
        (false, None, false) => Ok(State::Absent),
        (true, None | Some(0), false) => {
            check_dir(dir)?;
            tracing::warn!(
                dir = %dir.display(),
                "removing a key without a certificate, left by an interrupted first start; \
                 it was never used, so no viewer pinned it"
            );
            for path in [&cert, &key] {
                match fs::remove_file(path) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => {
                        return Err(io_at(path)(err));
                    }
                    _ => {}
                }
            }
            Ok(State::Absent)
        }
        (false, Some(_), _) => Err(IdentityError::Incomplete {
            present: cert,
            missing: key,
        }),
        (_, _, true) => Err(IdentityError::NotEmpty(dir.to_owned())),
    }
}

/// Puts a new identity at `dir` atomically (see the module doc).
pub(super) fn create(dir: &Path, key_pem: &str, cert_pem: &str) -> Result<Created, IdentityError> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    private_dir_builder(true)
        .create(&parent)
        .map_err(io_at(&parent))?;
    let name = dir
        .file_name()
        .map_or_else(|| "identity".into(), |n| n.to_string_lossy());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = parent.join(format!(".{name}.partial-{}-{nanos}", std::process::id()));
    let written = write_identity(&temp, key_pem, cert_pem).and_then(|()| fs::rename(&temp, dir));
    match written {
        Ok(()) => {
            File::open(&parent)
                .and_then(|p| p.sync_all())
                .map_err(io_at(&parent))?;
            Ok(Created::Yes)
        }
        Err(err) => {
            let _ = fs::remove_dir_all(&temp);
            if target_is_taken(&err) {
                Ok(Created::LostRace)
            } else {
                Err(io_at(dir)(err))
            }
        }
    }
}

fn write_identity(temp: &Path, key_pem: &str, cert_pem: &str) -> io::Result<()> {
    private_dir_builder(false).create(temp)?;
    write_new_private(&temp.join(KEY_FILE), key_pem.as_bytes())?;
    write_new_private(&temp.join(CERT_FILE), cert_pem.as_bytes())?;
    File::open(temp)?.sync_all()
}

/// Reads a file of the identity after checking it is a regular file, not a
/// link, owned by us and closed to group and others.
pub(super) fn read_private(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let meta = fs::symlink_metadata(path).map_err(io_at(path))?;
    if meta.file_type().is_symlink() {
        return Err(IdentityError::Symlink(path.to_owned()));
    }
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The flag is a small positive bit (0o400000 on Linux): no sign change.
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let mut file = options.open(path).map_err(|err| {
        if is_a_link(&err) {
            IdentityError::Symlink(path.to_owned())
        } else {
            io_at(path)(err)
        }
    })?;
    let meta = file.metadata().map_err(io_at(path))?;
    if !meta.is_file() {
        return Err(IdentityError::WrongKind {
            path: path.to_owned(),
            expected: "a regular file",
        });
    }
    check_private(path, &meta, "600")?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_at(path))?;
    Ok(bytes)
}

fn check_dir(dir: &Path) -> Result<(), IdentityError> {
    let meta = fs::symlink_metadata(dir).map_err(io_at(dir))?;
    check_private(dir, &meta, "700")
}

#[cfg(unix)]
fn check_private(
    path: &Path,
    meta: &fs::Metadata,
    chmod: &'static str,
) -> Result<(), IdentityError> {
    check_private_for(rustix::process::geteuid().as_raw(), path, meta, chmod)
}

/// Owned by `me`, nothing for group or others. (The user id is passed in so
/// the owner rule is tested without a second user.)
#[cfg(unix)]
fn check_private_for(
    me: u32,
    path: &Path,
    meta: &fs::Metadata,
    chmod: &'static str,
) -> Result<(), IdentityError> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != me {
        return Err(IdentityError::WrongOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if open_to_others(meta.mode()) {
        return Err(IdentityError::TooOpen {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
            chmod,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &fs::Metadata, _: &'static str) -> Result<(), IdentityError> {
    Ok(())
}

/// Any permission for group or others.
fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// The rename found a directory that is not empty (or a file) in its way.
#[cfg(unix)]
fn target_is_taken(err: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(err),
        Some(Errno::NOTEMPTY | Errno::EXIST)
    )
}

#[cfg(not(unix))]
fn target_is_taken(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::AlreadyExists
}

/// What `O_NOFOLLOW` answers for a link swapped in after the check.
#[cfg(unix)]
fn is_a_link(err: &io::Error) -> bool {
    rustix::io::Errno::from_io_error(err) == Some(rustix::io::Errno::LOOP)
}

#[cfg(not(unix))]
fn is_a_link(_: &io::Error) -> bool {
    false
}

fn private_dir_builder(recursive: bool) -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

/// Writes a new file readable by its owner only, synced; never overwrites
/// (and so never follows a link).
pub(super) fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::super::Identity;
    use super::*;

    /// A path for an identity directory in a fresh private scratch
    /// directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir().join(format!(
                "lookout-identity-{label}-{}-{nanos}",
                std::process::id()
            ));
            private_dir_builder(true).create(&dir).unwrap();
            Self(dir)
        }

        fn identity(&self) -> PathBuf {
            self.0.join("identity")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// What an older agent left when it crashed after writing the key.
    fn old_crash_leftovers(dir: &Path, cert: Option<&[u8]>) {
        private_dir_builder(true).create(dir).unwrap();
        let key = Identity::generate_pem().unwrap().1;
        write_new_private(&dir.join(KEY_FILE), key.as_bytes()).unwrap();
        if let Some(cert) = cert {
            write_new_private(&dir.join(CERT_FILE), cert).unwrap();
        }
    }

    #[test]
    fn a_crash_between_key_and_certificate_recovers() {
        for cert in [None, Some(&b""[..])] {
            let scratch = Scratch::new("crash");
            let dir = scratch.identity();
            old_crash_leftovers(&dir, cert);
            let (made, created) = Identity::load_or_create(&dir).unwrap();
            assert!(created, "a new identity after {cert:?}");
            let (again, created) = Identity::load_or_create(&dir).unwrap();
            assert!(!created);
            assert_eq!(made.fingerprint(), again.fingerprint());
        }
    }

    #[test]
    fn a_crash_before_the_rename_leaves_nothing_that_blocks_the_next_start() {
        let scratch = Scratch::new("partial");
        let dir = scratch.identity();
        // A half-written private directory beside the target.
        let partial = scratch.0.join(".identity.partial-1-2");
        private_dir_builder(false).create(&partial).unwrap();
        write_new_private(&partial.join(KEY_FILE), b"-----BEGIN PRIV").unwrap();
        let (_, created) = Identity::load_or_create(&dir).unwrap();
        assert!(created);
        assert_eq!(names(&dir), [CERT_FILE, KEY_FILE], "both files or neither");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&dir.join(CERT_FILE)), 0o600);
    }

    #[test]
    fn an_empty_directory_made_beforehand_is_replaced_by_a_private_one() {
        let scratch = Scratch::new("empty");
        let dir = scratch.identity();
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o755);
        let (_, created) = Identity::load_or_create(&dir).unwrap();
        assert!(created);
        assert_eq!(mode(&dir), 0o700);
        assert!(Identity::load_or_create(&dir).is_ok());
    }

    #[test]
    fn an_open_identity_directory_is_refused() {
        let scratch = Scratch::new("opendir");
        let dir = scratch.identity();
        Identity::load_or_create(&dir).unwrap();
        chmod(&dir, 0o755);
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::TooOpen { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("chmod 700 {}", dir.display())),
            "{text}"
        );
    }

    #[test]
    fn an_open_key_or_certificate_is_refused() {
        for (file, open) in [(KEY_FILE, 0o644), (CERT_FILE, 0o620), (KEY_FILE, 0o604)] {
            let scratch = Scratch::new("openfile");
            let dir = scratch.identity();
            Identity::load_or_create(&dir).unwrap();
            let path = dir.join(file);
            chmod(&path, open);
            let err = Identity::load_or_create(&dir).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("chmod 600 {}", path.display())),
                "{text}"
            );
        }
    }

    #[test]
    fn an_identity_of_another_user_is_refused() {
        let scratch = Scratch::new("owner");
        let dir = scratch.identity();
        Identity::load_or_create(&dir).unwrap();
        let meta = fs::symlink_metadata(&dir).unwrap();
        assert!(check_private_for(meta.uid(), &dir, &meta, "700").is_ok());
        let err = check_private_for(meta.uid() + 1, &dir, &meta, "700").unwrap_err();
        assert!(matches!(err, IdentityError::WrongOwner { .. }), "{err}");
    }

    #[test]
    fn a_symlinked_identity_directory_or_key_is_refused() {
        let scratch = Scratch::new("symlink");
        let real = scratch.0.join("real");
        Identity::load_or_create(&real).unwrap();
        let link = scratch.identity();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = Identity::load_or_create(&link).unwrap_err();
        assert!(matches!(err, IdentityError::Symlink(_)), "{err}");

        let elsewhere = scratch.0.join("stolen-key.pem");
        fs::rename(real.join(KEY_FILE), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, real.join(KEY_FILE)).unwrap();
        let err = Identity::load_or_create(&real).unwrap_err();
        assert!(matches!(err, IdentityError::Symlink(_)), "{err}");
    }

    #[test]
    fn a_pinned_identity_is_never_replaced_when_a_file_is_lost_or_damaged() {
        let scratch = Scratch::new("never-replace");
        let dir = scratch.identity();
        Identity::load_or_create(&dir).unwrap();
        let cert = fs::read(dir.join(CERT_FILE)).unwrap();

        fs::write(dir.join(CERT_FILE), b"not pem").unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::BadPem { .. }), "{err}");

        fs::write(dir.join(CERT_FILE), &cert).unwrap();
        fs::remove_file(dir.join(KEY_FILE)).unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::Incomplete { .. }), "{err}");
        assert_eq!(fs::read(dir.join(CERT_FILE)).unwrap(), cert, "untouched");
    }

    #[test]
    fn a_directory_of_other_files_is_not_taken_over() {
        let scratch = Scratch::new("others");
        let dir = scratch.identity();
        private_dir_builder(false).create(&dir).unwrap();
        fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::NotEmpty(_)), "{err}");
        assert_eq!(names(&dir), ["notes.txt"]);
    }

    #[test]
    fn two_agents_starting_at_once_share_one_identity() {
        let scratch = Scratch::new("race");
        let dir = scratch.identity();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || Identity::load_or_create(&dir).unwrap().0)
            })
            .collect();
        let prints: Vec<_> = starts
            .into_iter()
            .map(|t| t.join().unwrap().fingerprint())
            .collect();
        assert!(prints.windows(2).all(|w| w[0] == w[1]), "{prints:?}");
    }
}
