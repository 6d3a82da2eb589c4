//! The agent's TLS identity: a key and a self-signed certificate made on
//! first start, kept with owner-only permissions, and the TLS 1.3 server
//! configuration built from them.
//!
//! Viewers do not trust a certificate authority; they pin the certificate's
//! [`Fingerprint`], which the agent prints at every start. So the certificate
//! carries no meaningful name and never expires in practice: what matters is
//! that the key stays the same across restarts, and secret. How the key
//! and certificate are kept on disk (made atomically, checked for owner,
//! mode and symlinks at every start) is `store.rs`'s job.

mod store;

use std::io;
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
    /// The certificate exists but its key does not. (A key without its
    /// certificate is what an interrupted first start leaves; it is
    /// replaced, see `store.rs`.)
    #[error(
        "{present} exists but {missing} does not: restore it, or delete both to make a new identity (viewers will then see a new fingerprint)"
    )]
    Incomplete {
        /// The file that is there.
        present: PathBuf,
        /// The file that is not.
        missing: PathBuf,
    },
    /// The directory or a file is open to group or others.
    #[error(
        "{path} is open to other users (mode {mode:o}); the identity must be private: run `chmod {chmod} {path}`"
    )]
    TooOpen {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode to give it: `700` for the directory, `600` for files.
        chmod: &'static str,
    },
    /// The directory or a file belongs to another user.
    #[error(
        "{path} belongs to user id {owner}, not to the user the agent runs as (user id {me}); run `chown {me} {path}`, or run the agent as its owner"
    )]
    WrongOwner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The agent's effective user id.
        me: u32,
    },
    /// The directory or a file is a symbolic link.
    #[error(
        "{0} is a symbolic link, which is not followed for the identity; point --identity at the real directory"
    )]
    Symlink(PathBuf),
    /// A directory where a file belongs, or the other way round.
    #[error("{path} is not {expected}")]
    WrongKind {
        /// The path.
        path: PathBuf,
        /// "a directory" or "a regular file".
        expected: &'static str,
    },
    /// The directory holds other files and no identity.
    #[error(
        "{0} holds other files but no identity; choose a new or empty directory with --identity"
    )]
    NotEmpty(PathBuf),
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

    /// The default directory: `lookout-server/identity` in the user's
    /// config directory (`$XDG_CONFIG_HOME` or `~/.config` on Linux). See
    /// [`Identity::default_dir_in`].
    pub fn default_dir() -> Result<PathBuf, IdentityError> {
        dirs::config_dir()
            .map(|dir| Self::default_dir_in(&dir.join("lookout-server")))
            .ok_or(IdentityError::NoConfigDir)
    }

    /// The identity directory under the agent's config directory `base`:
    /// `base/identity`, or `base` itself when an older agent made its
    /// identity there (viewers pinned that one: it stays). Not `base`
    /// otherwise, because `base` also holds `config.toml`, and the identity
    /// is only ever made in an empty or missing directory.
    pub fn default_dir_in(base: &Path) -> PathBuf {
        if base.join(KEY_FILE).exists() || base.join(CERT_FILE).exists() {
            base.to_owned()
        } else {
            base.join("identity")
        }
    }

    /// Loads the identity kept in `dir`, or makes one and stores it there
    /// atomically (directory 0700, files 0600). Returns whether it was just
    /// made. Refuses a directory or file that is open to others, owned by
    /// another user or a symbolic link. Blocking.
    pub fn load_or_create(dir: &Path) -> Result<(Self, bool), IdentityError> {
        // A second round only when another agent made the identity between
        // our look and our rename; then it is complete.
        for _ in 0..2 {
            if store::inspect(dir)? == store::State::Complete {
                return Ok((Self::load(dir)?, false));
            }
            let (identity, key_pem, cert_pem) = Self::generate_pem()?;
            if store::create(dir, &key_pem, &cert_pem)? == store::Created::Yes {
                return Ok((identity, true));
            }
        }
        Ok((Self::load(dir)?, false))
    }

    fn load(dir: &Path) -> Result<Self, IdentityError> {
        let (key_path, cert_path) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
        let key_pem = store::read_private(&key_path)?;
        let cert_pem = store::read_private(&cert_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| IdentityError::BadPem {
            path: key_path.clone(),
            what: "private key",
            reason: err.to_string(),
        })?;
        let PrivateKeyDer::Pkcs8(key) = key else {
            return Err(IdentityError::BadPem {
                path: key_path,
                what: "private key",
                reason: "expected a PKCS#8 key (BEGIN PRIVATE KEY)".into(),
            });
        };
        let cert =
            CertificateDer::from_pem_slice(&cert_pem).map_err(|err| IdentityError::BadPem {
                path: cert_path,
                what: "certificate",
                reason: err.to_string(),
            })?;
        let identity = Self::from_parts(cert, key);
        // Refuses a key that does not match the certificate.
        identity.server_config()?;
        Ok(identity)
    }

    /// SHA-256 of the certificate's public key (its DER
    /// SubjectPublicKeyInfo), as browsers take it in
    /// `--ignore-certificate-errors-spki-list` (base64 there).
    pub fn spki_sha256(&self) -> Result<[u8; 32], IdentityError> {
        use rcgen::PublicKeyData;
        use sha2::Digest;
        let key = rcgen::KeyPair::try_from(self.key.secret_pkcs8_der())?;
        Ok(sha2::Sha256::digest(key.subject_public_key_info()).into())
    }

    /// SHA-256 of the certificate, as viewers pin it.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// A TLS 1.3-only server configuration presenting this identity, for
    /// native viewers only (`lookout/2`, or no ALPN).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        self.server_config_with(false)
    }

    /// Like [`Identity::server_config`]; with `web`, `http/1.1` is offered
    /// too, for the browser viewer on the same port.
    pub fn server_config_with(
        &self,
        web: bool,
    ) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        // `lookout/2`, or no ALPN at all (and `http/1.1` for browsers); a
        // client offering only something else (`h2`) is refused in the TLS
        // handshake.
        config.alpn_protocols = vec![lookout_protocol::ALPN_LOOKOUT.to_vec()];
        if web {
            config.alpn_protocols.push(crate::web::ALPN_HTTP.to_vec());
        }
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

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
    fn default_identity_sits_beside_the_config_file_unless_an_old_one_is_in_its_parent() {
        let base = temp_dir("default").join("lookout-server");
        fs::create_dir_all(&base).unwrap();
        fs::write(base.join("config.toml"), "fps = 10\n").unwrap();
        let dir = Identity::default_dir_in(&base);
        assert_eq!(dir, base.join("identity"));
        // A config file beside it does not stop the first start.
        let (first, created) = Identity::load_or_create(&dir).unwrap();
        assert!(created);
        // An identity made by an older agent in `base` itself is kept.
        let old = temp_dir("old").join("lookout-server");
        Identity::load_or_create(&old).unwrap();
        assert_eq!(Identity::default_dir_in(&old), old);
        assert_ne!(
            Identity::load_or_create(&old).unwrap().0.fingerprint(),
            first.fingerprint()
        );
        let _ = fs::remove_dir_all(base.parent().unwrap());
        let _ = fs::remove_dir_all(old.parent().unwrap());
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
}
