//! Token guessing against the in-process agent: the limiter is asked before
//! every proof is checked, counts proofs sent at once one by one, and
//! counts garbage like a wrong proof.

use lookout_protocol::{ErrorCode, ServerMessage};
use lookout_tests::agent::{Options, TOKEN, TestAgent};
use lookout_tests::client::Client;

/// What a checked wrong proof gets. A proof refused unchecked gets
/// `auth_failed` too, with a message that says why.
const CHECKED_AND_WRONG: &str = "authentication failed";

/// What the checked wrong proof that starts the block gets: how long.
const CHECKED_AND_BLOCKED: &str = "authentication failed; this address is blocked for ";

fn checked(message: &str) -> bool {
    message == CHECKED_AND_WRONG || message.starts_with(CHECKED_AND_BLOCKED)
}

fn auth_failed(answer: &ServerMessage) -> Option<&str> {
    match answer {
        ServerMessage::Error {
            code: ErrorCode::AuthFailed,
            message,
            ..
        } => Some(message),
        _ => None,
    }
}

/// Whether the agent drops a new connection from this address at once,
/// without a `hello` (a blocked address).
async fn turned_away_at_the_door(agent: &TestAgent) -> bool {
    let mut client = Client::connect(agent.endpoint).await;
    client.next().await.is_none()
}

#[tokio::test]
async fn proofs_in_flight_are_not_checked_after_the_block() {
    let agent = TestAgent::start(Options::default()).await;
    // Five connections opened, and their challenges read, before the block.
    let mut in_flight = Vec::new();
    for _ in 0..5 {
        in_flight.push(Client::hello(agent.endpoint).await);
    }
    for _ in 0..4 {
        let (_, answer) = Client::login(agent.endpoint, "guess").await;
        assert_eq!(auth_failed(&answer), Some(CHECKED_AND_WRONG), "{answer:?}");
    }
    // The fifth starts the block and is told for how long.
    let (_, answer) = Client::login(agent.endpoint, "guess").await;
    let message = auth_failed(&answer).unwrap_or_else(|| panic!("{answer:?}"));
    assert!(message.starts_with(CHECKED_AND_BLOCKED), "{message}");
    // Now the right token, on each connection opened before the block.
    for (mut client, challenge) in in_flight {
        client.prove(&challenge, TOKEN).await;
        let answer = client.message().await;
        let message = auth_failed(&answer).unwrap_or_else(|| panic!("welcomed: {answer:?}"));
        assert!(message.contains("too many failed"), "{message}");
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_guesses_blocks_after_five() {
    let agent = TestAgent::start(Options::default()).await;
    // 64 handshakes (all the pending table holds), every guess sent at once.
    let mut open = Vec::new();
    for _ in 0..64 {
        open.push(Client::hello(agent.endpoint).await);
    }
    let guesses = open
        .into_iter()
        .enumerate()
        .map(|(i, (mut client, challenge))| {
            tokio::spawn(async move {
                client.prove(&challenge, &format!("guess {i}")).await;
                client.message().await
            })
        });
    let mut checked_count = 0;
    for guess in guesses.collect::<Vec<_>>() {
        let answer = guess.await.unwrap();
        let message = auth_failed(&answer).unwrap_or_else(|| panic!("{answer:?}"));
        if checked(message) {
            checked_count += 1;
        } else {
            assert!(message.contains("too many failed"), "{message}");
        }
    }
    assert_eq!(checked_count, 5, "guesses checked out of 64 sent at once");
    assert!(turned_away_at_the_door(&agent).await);
    agent.stop().await;
}

#[tokio::test]
async fn garbage_in_the_handshake_counts_as_a_failure() {
    let agent = TestAgent::start(Options::default()).await;
    let garbage: [&[u8]; 5] = [
        b"not json",
        br#"{"type":"format_disk"}"#,
        br#"{"type":"start_monitor"}"#,
        br#"{"type":"auth","protocol":"one"}"#,
        br#"{"type":"mouse_button","button":"left\nx","pressed":true}"#,
    ];
    for payload in garbage {
        let (mut client, _) = Client::hello(agent.endpoint).await;
        client.send_raw(payload).await;
        let answer = client.message().await;
        assert!(
            matches!(
                answer,
                ServerMessage::Error {
                    code: ErrorCode::Protocol,
                    ..
                }
            ),
            "{answer:?}"
        );
        assert!(client.next().await.is_none(), "not closed after {answer:?}");
    }
    // Five protocol errors from one address block it like five wrong proofs.
    assert!(turned_away_at_the_door(&agent).await);
    agent.stop().await;
}
