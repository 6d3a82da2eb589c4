//! The token handshake: challenge, HMAC-SHA256 response bound to the TLS
//! connection, constant-time check.
//!
//! The token itself never crosses the wire. The server sends 32 fresh random
//! bytes; the viewer answers
//! `hex(HMAC-SHA256(key = token, msg = challenge ‖ B))`, where `B` is the
//! [`ChannelBinding`]: on TLS, 32 bytes of the TLS 1.3 exporter
//! ([`EXPORTER_LABEL`], empty context), which both ends compute from their
//! own view of the connection. A man in the middle terminates two different
//! TLS connections, so the two ends compute different `B`: a proof he relays
//! from the viewer is worthless to the agent, and challenges he picks
//! himself do not yield proofs he can use.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a challenge in bytes (64 hex characters on the wire).
const CHALLENGE_LEN: usize = 32;

/// 32 random bytes the viewer must prove its token against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Challenge([u8; CHALLENGE_LEN]);

impl Challenge {
    /// A fresh challenge from the operating system's random number generator.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; CHALLENGE_LEN];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A challenge with the given bytes (for tests and golden vectors).
    pub const fn from_bytes(bytes: [u8; CHALLENGE_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, which are what the HMAC is computed over.
    pub const fn as_bytes(&self) -> &[u8; CHALLENGE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Challenge({self})")
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A challenge that is not exactly 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a challenge is 64 lowercase hex characters")]
pub struct ParseChallengeError;

impl FromStr for Challenge {
    type Err = ParseChallengeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 2 * CHALLENGE_LEN || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseChallengeError);
        }
        let mut bytes = [0u8; CHALLENGE_LEN];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| ParseChallengeError)?;
        Ok(Self(bytes))
    }
}

impl Serialize for Challenge {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Challenge {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// The label of the TLS 1.3 exporter (RFC 8446 §7.5) whose output binds a
/// proof to its connection. The context is empty.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-lookout-auth";

/// How many bytes of exporter output a proof covers.
pub const EXPORTER_LEN: usize = 32;

/// What `hello.binding` announces: which bytes, besides the challenge, the
/// proof covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindingMode {
    /// The TLS exporter of the connection ([`EXPORTER_LABEL`]): every TLS
    /// connection of the native transport.
    TlsExporter,
    /// Nothing: only `--no-tls` and the browser transport. A native viewer
    /// on TLS refuses it.
    #[default]
    None,
}

/// The bytes `B` a proof covers besides the challenge, as one end computed
/// them from its own connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Nothing (`binding: none`).
    None,
    /// The connection's exporter output for [`EXPORTER_LABEL`].
    TlsExporter([u8; EXPORTER_LEN]),
}

impl ChannelBinding {
    /// What `hello.binding` says for this binding.
    pub const fn mode(&self) -> BindingMode {
        match self {
            ChannelBinding::None => BindingMode::None,
            ChannelBinding::TlsExporter(_) => BindingMode::TlsExporter,
        }
    }

    /// The bytes appended to the challenge in the HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ChannelBinding::None => &[],
            ChannelBinding::TlsExporter(bytes) => bytes,
        }
    }
}

impl fmt::Debug for ChannelBinding {
    /// Shows the mode only: the exporter output is a per-connection secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelBinding({:?})", self.mode())
    }
}

fn mac(token: &str, challenge: &Challenge, binding: &ChannelBinding) -> HmacSha256 {
    #[allow(clippy::expect_used)] // HMAC takes keys of every length: never fails.
    let mut mac =
        HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(challenge.as_bytes());
    mac.update(binding.as_bytes());
    mac
}

/// The viewer's answer:
/// `hex(HMAC-SHA256(key = token, msg = challenge ‖ binding))`, 64 lowercase
/// hex characters.
pub fn auth_response(token: &str, challenge: &Challenge, binding: &ChannelBinding) -> String {
    hex::encode(mac(token, challenge, binding).finalize().into_bytes())
}

/// Whether `response` proves knowledge of `token` for `challenge` on the
/// connection whose binding is `binding`.
///
/// The comparison of the MAC is constant-time; a response that is not 64
/// lowercase hex characters is refused before it.
pub fn verify_response(
    token: &str,
    challenge: &Challenge,
    binding: &ChannelBinding,
    response: &str,
) -> bool {
    let mut claimed = [0u8; 32];
    if response.len() != 64
        || response.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(response, &mut claimed).is_err()
    {
        return false;
    }
    mac(token, challenge, binding)
        .verify_slice(&claimed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    /// Our message is always 32 bytes, so check the primitive on its own first.
    #[test]
    fn hmac_primitive_matches_rfc_4231() {
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn response_is_hmac_over_raw_challenge_bytes_not_hex() {
        let challenge = Challenge::from_bytes([0xab; 32]);
        let mut mac = HmacSha256::new_from_slice(b"s3cret").unwrap();
        mac.update(&[0xab; 32]);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            auth_response("s3cret", &challenge, &ChannelBinding::None),
            expected
        );
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn a_bound_response_covers_challenge_then_exporter_bytes() {
        let challenge = Challenge::from_bytes([0xab; 32]);
        let binding = ChannelBinding::TlsExporter([0xcd; 32]);
        let mut mac = HmacSha256::new_from_slice(b"s3cret").unwrap();
        mac.update(&[0xab; 32]);
        mac.update(&[0xcd; 32]);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(auth_response("s3cret", &challenge, &binding), expected);
    }

    /// The relay attack in miniature: a proof made on one connection (its
    /// exporter) does not verify on another, nor without binding.
    #[test]
    fn a_proof_bound_to_one_connection_fails_on_another() {
        let challenge = Challenge::generate().unwrap();
        let viewer_side = ChannelBinding::TlsExporter([1; 32]);
        let agent_side = ChannelBinding::TlsExporter([2; 32]);
        let proof = auth_response("token", &challenge, &viewer_side);
        assert!(verify_response("token", &challenge, &viewer_side, &proof));
        assert!(!verify_response("token", &challenge, &agent_side, &proof));
        assert!(!verify_response(
            "token",
            &challenge,
            &ChannelBinding::None,
            &proof
        ));
    }

    #[test]
    fn debug_does_not_show_exporter_bytes() {
        let shown = format!("{:?}", ChannelBinding::TlsExporter([0xee; 32]));
        assert!(!shown.contains("ee"), "{shown}");
        assert!(shown.contains("TlsExporter"), "{shown}");
    }

    #[test]
    fn binding_modes_have_their_wire_names() {
        assert_eq!(
            serde_json::to_string(&BindingMode::TlsExporter).unwrap(),
            "\"tls-exporter\""
        );
        assert_eq!(
            serde_json::to_string(&BindingMode::None).unwrap(),
            "\"none\""
        );
    }

    #[test]
    fn right_token_verifies_and_wrong_ones_do_not() {
        let challenge = Challenge::generate().unwrap();
        let none = ChannelBinding::None;
        let good = auth_response("token", &challenge, &none);
        assert!(verify_response("token", &challenge, &none, &good));
        assert!(!verify_response("tokeN", &challenge, &none, &good));
        assert!(!verify_response(
            "token",
            &Challenge::from_bytes([1; 32]),
            &none,
            &good
        ));
        assert!(!verify_response(
            "token",
            &challenge,
            &none,
            &good.to_uppercase()
        ));
        assert!(!verify_response("token", &challenge, &none, &good[..62]));
        assert!(!verify_response("token", &challenge, &none, ""));
        assert!(!verify_response(
            "token",
            &challenge,
            &none,
            &"z".repeat(64)
        ));
    }

    #[test]
    fn challenges_are_fresh() {
        let a = Challenge::generate().unwrap();
        let b = Challenge::generate().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn challenge_hex_round_trips_and_rejects_bad_forms() {
        let c = Challenge::from_bytes([0x0f; 32]);
        assert_eq!(c.to_string(), "0f".repeat(32));
        assert_eq!(c.to_string().parse::<Challenge>(), Ok(c));
        assert!("0F".repeat(32).parse::<Challenge>().is_err());
        assert!("0f".repeat(31).parse::<Challenge>().is_err());
        assert!("0g".repeat(32).parse::<Challenge>().is_err());
    }
}
