//! Golden bytes typed from the contract's §4, the size rules, and property
//! tests: every probe is at least 512 bytes and parses back; every reply
//! fits in its probe and parses back.

use proptest::prelude::*;

use super::*;

const NONCE: &str = "00112233445566778899aabbccddeeff";
const FP: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn nonce() -> Nonce {
    NONCE.parse().unwrap()
}

fn reply(name: &str) -> Reply {
    Reply {
        protocol: 2,
        nonce: nonce(),
        name: name.into(),
        port: 6868,
        fingerprint: FP.parse().unwrap(),
        auth: AuthMode::Token,
        monitors: 2,
    }
}

#[test]
fn a_probe_is_the_contracts_json_padded_with_spaces_to_512_bytes() {
    let head =
        r#"{"type":"discover","protocol":2,"nonce":"00112233445566778899aabbccddeeff","pad":""#;
    let mut expected = head.as_bytes().to_vec();
    expected.resize(512 - 2, b' ');
    expected.extend_from_slice(b"\"}");
    let probe = Probe::new(nonce()).encode();
    assert_eq!(probe, expected);
    assert_eq!(probe.len(), MIN_PROBE_LEN);
    assert_eq!(Probe::parse(&probe), Ok(Probe::new(nonce())));
}

#[test]
fn a_reply_is_the_contracts_json_in_its_order() {
    let expected = format!(
        r#"{{"type":"agent","protocol":2,"nonce":"{NONCE}","name":"kiosk-3","port":6868,"fingerprint":"{FP}","auth":"token","monitors":2}}"#
    );
    let bytes = reply("kiosk-3").encode(MIN_PROBE_LEN).unwrap();
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
    assert_eq!(Reply::parse(&bytes), Ok(reply("kiosk-3")));
    let open = Reply {
        auth: AuthMode::None,
        ..reply("x")
    };
    let text = String::from_utf8(open.encode(MIN_PROBE_LEN).unwrap()).unwrap();
    assert!(text.contains(r#""auth":"none""#), "{text}");
}

#[test]
fn a_short_or_long_probe_is_refused_before_it_is_parsed() {
    let probe = Probe::new(nonce()).encode();
    let short = &probe[..MIN_PROBE_LEN - 1];
    assert_eq!(Probe::parse(short), Err(DiscoveryError::TooShort(511)));
    let tiny =
        br#"{"type":"discover","protocol":2,"nonce":"00112233445566778899aabbccddeeff","pad":""}"#;
    assert_eq!(
        Probe::parse(tiny),
        Err(DiscoveryError::TooShort(tiny.len()))
    );
    let mut long = probe[..probe.len() - 2].to_vec();
    long.resize(MAX_DATAGRAM_LEN - 1, b' ');
    long.extend_from_slice(b"\"}");
    assert_eq!(long.len(), MAX_DATAGRAM_LEN + 1);
    assert_eq!(
        Probe::parse(&long),
        Err(DiscoveryError::TooLong(MAX_DATAGRAM_LEN + 1))
    );
    // One byte less is a probe.
    long.remove(100);
    assert!(Probe::parse(&long).is_ok());
}

/// `json` padded with spaces (outside the object) to 512 bytes.
fn padded(json: &str) -> Vec<u8> {
    let mut bytes = json.as_bytes().to_vec();
    bytes.resize(MIN_PROBE_LEN, b' ');
    bytes
}

#[test]
fn malformed_probes_are_refused_with_their_reason() {
    let probe = |nonce: &str, pad: &str| {
        padded(&format!(
            r#"{{"type":"discover","protocol":2,"nonce":"{nonce}","pad":"{pad}"}}"#
        ))
    };
    assert!(Probe::parse(&probe(NONCE, "  ")).is_ok());
    for bad in [
        "00112233445566778899AABBCCDDEEFF",
        "00112233445566778899aabbccddeef",
        "00112233445566778899aabbccddeeff0",
        "g0112233445566778899aabbccddeeff",
        " 0112233445566778899aabbccddeeff",
    ] {
        assert_eq!(
            Probe::parse(&probe(bad, "")),
            Err(DiscoveryError::BadNonce),
            "{bad}"
        );
    }
    assert_eq!(
        Probe::parse(&probe(NONCE, " x ")),
        Err(DiscoveryError::BadPad)
    );
    let agent = padded(&format!(
        r#"{{"type":"agent","protocol":2,"nonce":"{NONCE}","pad":""}}"#
    ));
    assert_eq!(Probe::parse(&agent), Err(DiscoveryError::WrongType));
    for junk in [
        padded(r#"{"type":"discover","protocol":2,"pad":""}"#),
        padded("[1,2,3]"),
        padded(""),
        vec![0xff; MIN_PROBE_LEN],
    ] {
        assert!(
            matches!(Probe::parse(&junk), Err(DiscoveryError::Malformed(_))),
            "{junk:?}"
        );
    }
}

#[test]
fn unknown_fields_of_a_probe_are_ignored() {
    let json =
        format!(r#"{{"type":"discover","protocol":3,"nonce":"{NONCE}","pad":"","later":[1]}}"#);
    let probe = Probe::parse(&padded(&json)).unwrap();
    assert_eq!((probe.protocol, probe.nonce), (3, nonce()));
}

#[test]
fn malformed_replies_are_refused_with_their_reason() {
    let good = String::from_utf8(reply("kiosk").encode(MIN_PROBE_LEN).unwrap()).unwrap();
    let with = |from: &str, to: &str| Reply::parse(good.replace(from, to).as_bytes());
    assert_eq!(with("\"kiosk\"", "\"\""), Err(DiscoveryError::BadName));
    assert_eq!(with("\"kiosk\"", "\"a\\nb\""), Err(DiscoveryError::BadName));
    let long = format!("\"{}\"", "n".repeat(MAX_AGENT_NAME_CHARS + 1));
    assert_eq!(with("\"kiosk\"", &long), Err(DiscoveryError::BadName));
    let longest = format!("\"{}\"", "é".repeat(MAX_AGENT_NAME_CHARS));
    assert!(with("\"kiosk\"", &longest).is_ok());
    assert_eq!(with("sha256:", "md5:"), Err(DiscoveryError::BadFingerprint));
    assert_eq!(
        with("e3b0c442", "E3B0C442"),
        Err(DiscoveryError::BadFingerprint)
    );
    assert_eq!(with("6868", "0"), Err(DiscoveryError::BadPort));
    assert_eq!(with("aabbcc", "AABBCC"), Err(DiscoveryError::BadNonce));
    assert_eq!(
        with("\"agent\"", "\"discover\""),
        Err(DiscoveryError::WrongType)
    );
    assert!(matches!(
        with("\"token\"", "\"maybe\""),
        Err(DiscoveryError::Malformed(_))
    ));
    assert!(matches!(
        with("6868", "65536"),
        Err(DiscoveryError::Malformed(_))
    ));
    assert_eq!(Reply::parse(b""), Err(DiscoveryError::TooShort(0)));
    assert_eq!(
        Reply::parse(&vec![b' '; MAX_DATAGRAM_LEN + 1]),
        Err(DiscoveryError::TooLong(MAX_DATAGRAM_LEN + 1))
    );
}

#[test]
fn a_name_too_long_for_the_probe_is_cut_at_a_character_boundary() {
    // 300 two-byte characters: far past the 512-byte probe.
    let long = "é".repeat(300);
    let bytes = reply(&long).encode(MIN_PROBE_LEN).unwrap();
    assert!(bytes.len() <= MIN_PROBE_LEN, "{}", bytes.len());
    // The longest prefix that fits: one more character would not.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let kept = text.matches('é').count();
    assert!(kept > 100, "{kept}");
    let one_more = reply(&"é".repeat(kept + 1)).encode_with_name(&"é".repeat(kept + 1));
    assert!(one_more.len() > MIN_PROBE_LEN);
    // The identity is never cut.
    assert!(text.contains(FP) && text.contains(NONCE), "{text}");
    // A conforming name always fits whole, whatever it holds.
    let worst = "\"".repeat(MAX_AGENT_NAME_CHARS);
    let whole = reply(&worst).encode(MIN_PROBE_LEN).unwrap();
    assert_eq!(Reply::parse(&whole).unwrap().name, worst);
    let widest = "😀".repeat(MAX_AGENT_NAME_CHARS);
    let whole = reply(&widest).encode(MIN_PROBE_LEN).unwrap();
    assert_eq!(Reply::parse(&whole).unwrap().name, widest);
}

#[test]
fn no_reply_is_made_for_a_limit_below_its_fixed_fields() {
    assert_eq!(reply("a").encode(100), Err(DiscoveryError::NoRoom(100)));
}

fn any_nonce() -> impl Strategy<Value = Nonce> {
    any::<[u8; 16]>().prop_map(Nonce::from_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_probe_is_at_least_512_bytes_and_parses_back(nonce in any_nonce(), protocol in any::<u32>()) {
        let probe = Probe { protocol, nonce };
        let bytes = probe.encode();
        prop_assert!(bytes.len() >= MIN_PROBE_LEN);
        prop_assert_eq!(Probe::parse(&bytes), Ok(probe));
    }

    #[test]
    fn every_reply_fits_in_its_probe_and_parses_back(
        nonce in any_nonce(),
        name in "\\PC{1,64}",
        port in 1u16..,
        fp in any::<[u8; 32]>(),
        token in any::<bool>(),
        monitors in any::<u32>(),
        extra in 0usize..=(MAX_DATAGRAM_LEN - MIN_PROBE_LEN),
    ) {
        let probe_len = MIN_PROBE_LEN + extra;
        let reply = Reply {
            protocol: 2,
            nonce,
            name: name.clone(),
            port,
            fingerprint: crate::Fingerprint::of_certificate(&fp),
            auth: if token { AuthMode::Token } else { AuthMode::None },
            monitors,
        };
        let bytes = reply.encode(probe_len).unwrap();
        prop_assert!(bytes.len() <= probe_len);
        prop_assert_eq!(Reply::parse(&bytes), Ok(reply));
    }

    #[test]
    fn parsing_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2100)) {
        let _ = Probe::parse(&bytes);
        let _ = Reply::parse(&bytes);
    }
}
