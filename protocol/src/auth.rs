//! The token handshake: challenge, HMAC-SHA256 response, constant-time check.
//!
//! The token itself never crosses the wire. The server sends 32 fresh random
//! bytes; the viewer answers `hex(HMAC-SHA256(key = token, msg = challenge))`;
//! the server recomputes it and compares in constant time.

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

fn mac(token: &str, challenge: &Challenge) -> HmacSha256 {
    #[allow(clippy::expect_used)] // HMAC takes keys of every length: never fails.
    let mut mac =
        HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(challenge.as_bytes());
    mac
}

/// The viewer's answer: `hex(HMAC-SHA256(key = token, msg = challenge))`,
/// 64 lowercase hex characters.
pub fn auth_response(token: &str, challenge: &Challenge) -> String {
    hex::encode(mac(token, challenge).finalize().into_bytes())
}

/// Whether `response` proves knowledge of `token` for `challenge`.
///
/// The comparison of the MAC is constant-time; a response that is not 64
/// lowercase hex characters is refused before it.
pub fn verify_response(token: &str, challenge: &Challenge, response: &str) -> bool {
    let mut claimed = [0u8; 32];
    if response.len() != 64
        || response.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(response, &mut claimed).is_err()
    {
        return false;
    }
    mac(token, challenge).verify_slice(&claimed).is_ok()
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
        assert_eq!(auth_response("s3cret", &challenge), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn right_token_verifies_and_wrong_ones_do_not() {
        let challenge = Challenge::generate().unwrap();
        let good = auth_response("token", &challenge);
        assert!(verify_response("token", &challenge, &good));
        assert!(!verify_response("tokeN", &challenge, &good));
        assert!(!verify_response(
            "token",
            &Challenge::from_bytes([1; 32]),
            &good
        ));
        assert!(!verify_response("token", &challenge, &good.to_uppercase()));
        assert!(!verify_response("token", &challenge, &good[..62]));
        assert!(!verify_response("token", &challenge, ""));
        assert!(!verify_response("token", &challenge, &"z".repeat(64)));
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
