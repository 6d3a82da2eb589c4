//! Where the agent listens: the `HOST[:PORT]` argument parsed into a
//! [`Target`], and how a target is printed (also the key of the known-hosts
//! file).

use std::fmt;

use lookout_protocol::DEFAULT_PORT;

/// Where the agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Target {
    /// Parses `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6
    /// address (which cannot carry a port).
    pub fn parse(s: &str) -> Result<Self, TargetError> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or(TargetError::UnclosedBracket)?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(TargetError::AfterBracket)?),
                ),
            }
        } else {
            match s.matches(':').count() {
                0 => (s, None),
                1 => s
                    .split_once(':')
                    .map_or((s, None), |(host, port)| (host, Some(port))),
                // Two or more colons and no brackets: an IPv6 address alone.
                _ => (s, None),
            }
        };
        if host.is_empty() {
            return Err(TargetError::EmptyHost);
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == '[' || c == ']')
        {
            return Err(TargetError::BadHost(host.to_owned()));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(TargetError::BadPort(p.to_owned())),
                Ok(port) => port,
            },
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Whether the host is this machine for sure: `localhost`, or an IP
    /// literal in 127.0.0.0/8 or `::1`. Other names may resolve anywhere.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Target {
    /// `host:port`, with brackets around an IPv6 address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A `HOST[:PORT]` argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Nothing before the port.
    #[error("the host is empty")]
    EmptyHost,
    /// `[` without `]`.
    #[error("an IPv6 address in brackets lacks the closing ']'")]
    UnclosedBracket,
    /// Something other than `:PORT` after `]`.
    #[error("only ':PORT' may follow ']'")]
    AfterBracket,
    /// Spaces or stray brackets in the host.
    #[error("{0:?} is not a host name or address")]
    BadHost(String),
    /// Not a port number in 1..=65535.
    #[error("{0:?} is not a port number (1-65535)")]
    BadPort(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Result<(String, u16), TargetError> {
        Target::parse(s).map(|t| (t.host, t.port))
    }

    #[test]
    fn host_alone_gets_the_default_port() {
        assert_eq!(target("example.org"), Ok(("example.org".into(), 6868)));
        assert_eq!(target("10.0.0.7"), Ok(("10.0.0.7".into(), 6868)));
    }

    #[test]
    fn host_with_port() {
        assert_eq!(target("example.org:7000"), Ok(("example.org".into(), 7000)));
        assert_eq!(target("127.0.0.1:1"), Ok(("127.0.0.1".into(), 1)));
    }

    #[test]
    fn ipv6_in_brackets_with_and_without_port() {
        assert_eq!(target("[::1]:6868"), Ok(("::1".into(), 6868)));
        assert_eq!(target("[fe80::2]:9"), Ok(("fe80::2".into(), 9)));
        assert_eq!(target("[::1]"), Ok(("::1".into(), 6868)));
    }

    #[test]
    fn bare_ipv6_is_a_host_without_port() {
        assert_eq!(target("::1"), Ok(("::1".into(), 6868)));
        assert_eq!(target("2001:db8::5"), Ok(("2001:db8::5".into(), 6868)));
    }

    #[test]
    fn malformed_targets_are_refused() {
        assert_eq!(target(""), Err(TargetError::EmptyHost));
        assert_eq!(target(":6868"), Err(TargetError::EmptyHost));
        assert_eq!(target("[]:1"), Err(TargetError::EmptyHost));
        assert_eq!(target("[::1"), Err(TargetError::UnclosedBracket));
        assert_eq!(target("[::1]6868"), Err(TargetError::AfterBracket));
        assert!(matches!(target("host:0"), Err(TargetError::BadPort(_))));
        assert!(matches!(target("host:65536"), Err(TargetError::BadPort(_))));
        assert!(matches!(target("host:"), Err(TargetError::BadPort(_))));
        assert!(matches!(target("host:x"), Err(TargetError::BadPort(_))));
        assert!(matches!(target("a b"), Err(TargetError::BadHost(_))));
    }

    #[test]
    fn target_displays_with_brackets_for_ipv6() {
        assert_eq!(Target::parse("[::1]:5").unwrap().to_string(), "[::1]:5");
        assert_eq!(Target::parse("h").unwrap().to_string(), "h:6868");
    }
}
