//! The key an agent is recorded under in the known-hosts file: one spelling
//! per agent, so that a host written another way can never look unknown and
//! be trusted on first use a second time.
//!
//! * IP literals in canonical form: `[0::1]`, `[::1]` and
//!   `[0:0:0:0:0:0:0:1]` are `[::1]`; an IPv4-mapped IPv6 address
//!   (`[::ffff:10.0.0.7]`) is its IPv4 address (`10.0.0.7`), which is where
//!   the connection goes.
//! * Names in lower case: DNS names are case-insensitive, so `Example.COM`
//!   is `example.com`.
//! * The port always explicit: `host:6868`.

use std::fmt;
use std::net::IpAddr;

use crate::target::{Target, TargetError};

/// `host:port` in the one spelling the known-hosts file uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostKey(String);

impl HostKey {
    /// The key of `target`.
    pub fn of(target: &Target) -> Self {
        Self(
            Target {
                host: canonical_host(&target.host),
                port: target.port,
            }
            .to_string(),
        )
    }

    /// The key of a host word read from the file, written in any spelling
    /// [`Target::parse`] accepts (a missing port is the default port).
    pub fn parse(word: &str) -> Result<Self, TargetError> {
        Target::parse(word).map(|target| Self::of(&target))
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IP literal in canonical form (IPv6 without brackets), or a name in
/// lower case.
fn canonical_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => host.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(word: &str) -> String {
        HostKey::parse(word).unwrap().to_string()
    }

    #[test]
    fn ipv6_spellings_share_one_key() {
        for spelling in [
            "[::1]:6868",
            "[0::1]:6868",
            "[0:0:0:0:0:0:0:1]:6868",
            "[0000:0000::0001]",
            "::1",
        ] {
            assert_eq!(key(spelling), "[::1]:6868", "{spelling}");
        }
        assert_eq!(key("[FE80::A]:9"), "[fe80::a]:9");
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_key() {
        assert_eq!(key("[::ffff:10.0.0.7]:6868"), "10.0.0.7:6868");
        assert_eq!(key("10.0.0.7"), "10.0.0.7:6868");
    }

    #[test]
    fn uppercase_hostname_shares_the_key_of_the_lowercase_one() {
        assert_eq!(key("Example.COM:7000"), "example.com:7000");
        assert_eq!(
            HostKey::of(&Target {
                host: "BOX.lan".into(),
                port: 6868
            }),
            HostKey::parse("box.LAN").unwrap()
        );
    }

    #[test]
    fn the_port_is_always_explicit_and_part_of_the_key() {
        assert_eq!(key("box"), "box:6868");
        assert_ne!(key("box:6869"), key("box"));
    }
}
