//! The agent's TLS identity: a key and a self-signed certificate made on
//! first start, kept with owner-only permissions, and the TLS 1.3 server
//! configuration built from them.
//!
//! Viewers do not trust a certificate authority; they pin the certificate's
//! [`Fingerprint`], which the agent prints at every start. So the certificate
//! carries no meaningful name and never expires in practice: what matters is
//! that the key stays the same across restarts, and secret.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_protocol::Fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The private key's file name inside the identity directory.
pub const KEY_FILE: &str = "key.pem";
/// The certificate's file name inside the identity directory.
pub const CERT_FILE: &str = "cert.pem";

/// Why the identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No directory was given and the platform has no config directory.
    #[error("no config directory found (is HOME set?); choose one with --identity DIR")]
    NoConfigDir,
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Only one of the two files exists.
    #[error(
        "{present} exists but {missing} does not: restore it, or delete both to make a new identity (viewers will then see a new fingerprint)"
    )]
    Incomplete {
        /// The file that is there.
        present: PathBuf,
        /// The file that is not.
        missing: PathBuf,
    },
    /// The key file can be read by other users.
    #[error("{0} can be read by other users; run `chmod 600 {0}`")]
    KeyTooOpen(PathBuf),
    /// A file is not valid PEM of the expected kind.
    #[error("{path} is not a valid PEM {what}: {reason}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
        /// The parser's words.
        reason: String,
    },
    /// Making a key or certificate failed.
    #[error("cannot make a key and certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The key and certificate do not go together, or rustls refused them.
    #[error("cannot use the identity: {0}")]
    Tls(#[from] rustls::Error),
}

/// A key and its self-signed certificate.
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    fingerprint: Fingerprint,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint,
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh ECDSA P-256 key and a self-signed certificate, in memory.
    pub fn generate() -> Result<Self, IdentityError> {
        Ok(Self::generate_pem()?.0)
    }

    /// Like [`Identity::generate`], with the key and certificate as PEM
    /// text (in that order) for storing.
    fn generate_pem() -> Result<(Self, String, String), IdentityError> {
        let made = rcgen::generate_simple_self_signed(vec!["lookout-server".to_owned()])?;
        let cert = made.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        let pems = (made.signing_key.serialize_pem(), made.cert.pem());
        Ok((Self::from_parts(cert, key), pems.0, pems.1))
    }

    fn from_parts(cert: CertificateDer<'static>, key: PrivatePkcs8KeyDer<'static>) -> Self {
        let fingerprint = Fingerprint::of_certificate(&cert);
        Self {
            cert,
            key,
            fingerprint,
        }
    }

    /// The default directory: `lookout-server` in the user's config
    /// directory (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
    pub fn default_dir() -> Result<PathBuf, IdentityError> {
        dirs::config_dir()
            .map(|dir| dir.join("lookout-server"))
            .ok_or(IdentityError::NoConfigDir)
    }

    /// Loads the identity kept in `dir`, or makes one and stores it there
    /// (directory 0700, files 0600). Returns whether it was just made.
    pub fn load_or_create(dir: &Path) -> Result<(Self, bool), IdentityError> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        match (key_path.exists(), cert_path.exists()) {
            (true, true) => Ok((Self::load(&key_path, &cert_path)?, false)),
            (false, false) => {
                let (identity, key_pem, cert_pem) = Self::generate_pem()?;
                store(dir, (&key_path, &key_pem), (&cert_path, &cert_pem))?;
                Ok((identity, true))
            }
            (true, false) => Err(IdentityError::Incomplete {
                present: key_path,
                missing: cert_path,
            }),
            (false, true) => Err(IdentityError::Incomplete {
                present: cert_path,
                missing: key_path,
            }),
        }
    }

    fn load(key_path: &Path, cert_path: &Path) -> Result<Self, IdentityError> {
        check_private(key_path)?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| IdentityError::BadPem {
            path: key_path.to_owned(),
            what: "private key",
            reason: err.to_string(),
        })?;
        let PrivateKeyDer::Pkcs8(key) = key else {
            return Err(IdentityError::BadPem {
                path: key_path.to_owned(),
                what: "private key",
                reason: "expected a PKCS#8 key (BEGIN PRIVATE KEY)".into(),
            });
        };
        let cert =
            CertificateDer::from_pem_file(cert_path).map_err(|err| IdentityError::BadPem {
                path: cert_path.to_owned(),
                what: "certificate",
                reason: err.to_string(),
            })?;
        let identity = Self::from_parts(cert, key);
        // Refuses a key that does not match the certificate.
        identity.server_config()?;
        Ok(identity)
    }

    /// SHA-256 of the certificate, as viewers pin it.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// A TLS 1.3-only server configuration presenting this identity.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        Ok(Arc::new(config))
    }
}

/// Creates `dir` (0700) and the two files (0600) in it.
fn store(dir: &Path, key: (&Path, &str), cert: (&Path, &str)) -> Result<(), IdentityError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| IdentityError::Io { path, source }
    };
    create_private_dir(dir).map_err(io_err(dir))?;
    for (path, text) in [key, cert] {
        write_private(path, text.as_bytes()).map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Writes a new file readable by its owner only; never overwrites.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
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

/// Refuses a key file that group or others may read, as ssh does.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| IdentityError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(IdentityError::KeyTooOpen(path.to_owned()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), IdentityError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lookout-identity-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn made_once_then_loaded_with_the_same_fingerprint() {
        let dir = temp_dir("reuse").join("nested");
        let (first, created) = Identity::load_or_create(&dir).unwrap();
        assert!(created);
        let (second, created) = Identity::load_or_create(&dir).unwrap();
        assert!(!created);
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_eq!(
            first.fingerprint(),
            Fingerprint::of_certificate(&second.cert)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
            assert_eq!(mode(&dir.join(CERT_FILE)), 0o600);
        }
        fs::remove_dir_all(dir.parent().unwrap()).ok();
    }

    #[test]
    fn two_identities_differ() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[cfg(unix)]
    #[test]
    fn an_open_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("open");
        Identity::load_or_create(&dir).unwrap();
        let key = dir.join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_lone_file_or_garbage_is_refused() {
        let dir = temp_dir("broken");
        Identity::load_or_create(&dir).unwrap();
        fs::remove_file(dir.join(CERT_FILE)).unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::Incomplete { .. }), "{err}");
        write_private(&dir.join(CERT_FILE), b"not pem").unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, IdentityError::BadPem { .. }), "{err}");
        fs::remove_dir_all(&dir).ok();
    }
}
