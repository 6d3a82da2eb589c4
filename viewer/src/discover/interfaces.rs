//! The IPv4 broadcast addresses of this machine's interfaces.

use std::net::Ipv4Addr;

/// The broadcast address of every IPv4 interface that has one (loopback
/// has none), each once, in the order the system lists them.
pub fn broadcast_addresses() -> Vec<Ipv4Addr> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list the network interfaces");
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for interface in interfaces {
        let if_addrs::IfAddr::V4(v4) = interface.addr else {
            continue;
        };
        if let Some(broadcast) = v4
            .broadcast
            .filter(|b| !b.is_loopback() && !b.is_unspecified())
            && !found.contains(&broadcast)
        {
            found.push(broadcast);
        }
    }
    found
}
