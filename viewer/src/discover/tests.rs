//! [`discover`] against a scripted responder on loopback: what it keeps of
//! the replies it gets.

use std::net::UdpSocket;
use std::thread;

use lookout_protocol::{MAX_DATAGRAM_LEN, MIN_PROBE_LEN};

use super::*;

fn reply(nonce: Nonce, name: &str, port: u16) -> Reply {
    Reply {
        protocol: 2,
        nonce,
        name: name.into(),
        port,
        fingerprint: Fingerprint::of_certificate(name.as_bytes()),
        auth: AuthMode::Token,
        monitors: 1,
    }
}

/// A UDP socket on loopback that answers the first probe it gets with
/// `answers(probe nonce)`, each sent as is; returns its address.
fn responder(answers: impl FnOnce(Nonce) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            return;
        };
        let probe = Probe::parse(&buf[..len]).unwrap();
        for answer in answers(probe.nonce) {
            socket.send_to(&answer, from).unwrap();
        }
    });
    addr
}

fn probing(addr: SocketAddr) -> Options {
    Options {
        timeout: Duration::from_millis(500),
        broadcast: false,
        port: DEFAULT_PORT,
        probes: vec![Target {
            host: addr.ip().to_string(),
            port: addr.port(),
        }],
    }
}

#[test]
fn only_replies_to_our_nonce_that_fit_our_probe_count_and_each_agent_once() {
    let addr = responder(|nonce| {
        let other = Nonce::from_bytes([0xee; 16]);
        let good = reply(nonce, "good", 7000).encode(MIN_PROBE_LEN).unwrap();
        // Valid JSON with an unknown field, but longer than the probe.
        let text = String::from_utf8(good.clone()).unwrap();
        let long = text.replacen('{', &format!("{{\"x\":\"{}\",", "y".repeat(600)), 1);
        assert!(long.len() > MIN_PROBE_LEN && Reply::parse(long.as_bytes()).is_ok());
        vec![
            reply(other, "stale", 7001).encode(MIN_PROBE_LEN).unwrap(),
            long.into_bytes(),
            b"{\"type\":\"agent\"}".to_vec(),
            good.clone(),
            good,
            reply(nonce, "second", 7002).encode(MIN_PROBE_LEN).unwrap(),
        ]
    });
    let found = discover(&probing(addr)).unwrap();
    let names: Vec<_> = found.iter().map(|f| (f.name.as_str(), f.addr)).collect();
    assert_eq!(
        names,
        [
            ("good", SocketAddr::new(addr.ip(), 7000)),
            ("second", SocketAddr::new(addr.ip(), 7002)),
        ]
    );
    assert_eq!(found[0].fingerprint, Fingerprint::of_certificate(b"good"));
}

#[test]
fn nobody_answering_is_an_empty_list_after_the_timeout() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = probing(silent.local_addr().unwrap());
    let started = Instant::now();
    assert_eq!(discover(&options).unwrap(), []);
    assert!(started.elapsed() >= options.timeout);
}

#[test]
fn nothing_to_probe_is_an_error_not_a_silent_wait() {
    let options = Options {
        broadcast: false,
        ..Options::default()
    };
    assert!(matches!(discover(&options), Err(DiscoverError::Nowhere)));
}
