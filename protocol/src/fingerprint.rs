//! The agent's identity as people see it: `sha256:` and the SHA-256 of its
//! TLS certificate (DER), in 64 lowercase hex characters.
//!
//! The agent prints its fingerprint at every start; a viewer pins it with
//! `--fingerprint` or records it on first use, and from then on accepts only
//! a TLS handshake whose certificate hashes to it (and whose signature checks
//! out against that certificate's key).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// What a fingerprint's text starts with.
pub const FINGERPRINT_PREFIX: &str = "sha256:";

/// The SHA-256 of a certificate's DER bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_certificate(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// The raw hash.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{FINGERPRINT_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Text that is not `sha256:` followed by 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is `sha256:` followed by 64 hex characters, as the agent prints it")]
pub struct ParseFingerprintError;

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    /// Accepts what the agent prints; hex digits in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .trim()
            .strip_prefix(FINGERPRINT_PREFIX)
            .ok_or(ParseFingerprintError)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| ParseFingerprintError)?;
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_round_trip() {
        let fp = Fingerprint::of_certificate(b"not really a certificate");
        let text = fp.to_string();
        assert_eq!(text.len(), 7 + 64);
        assert!(text.starts_with("sha256:"));
        assert!(
            text[7..]
                .chars()
                .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        );
        assert_eq!(text.parse::<Fingerprint>(), Ok(fp));
        assert_eq!(
            text.to_uppercase().replace("SHA256:", "sha256:").parse(),
            Ok(fp)
        );
    }

    #[test]
    fn known_vector() {
        // SHA-256 of the empty string.
        assert_eq!(
            Fingerprint::of_certificate(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "sha256:",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert_eq!(
                bad.parse::<Fingerprint>(),
                Err(ParseFingerprintError),
                "{bad}"
            );
        }
    }
}
