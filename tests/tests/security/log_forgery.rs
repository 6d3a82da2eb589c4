//! Text from the network in the agent's log: a peer that has not even
//! authenticated tries to write a line of its own into the audit log
//! (one line per connection) and to drive the operator's terminal.

use lookout_protocol::{ErrorCode, ServerMessage};
use lookout_tests::client::{Client, WAIT};
use lookout_tests::process::AgentProcess;

#[tokio::test]
async fn a_forged_log_line_in_a_bad_message_is_escaped() {
    let agent = AgentProcess::start(
        None,
        &[
            "--token",
            "log-forgery-test-token",
            "--source",
            "test-pattern",
            "--pattern-size",
            "320x240",
        ],
    );
    let (mut client, _) = Client::hello(agent.endpoint()).await;
    client
        .send_raw(
            br#"{"type":"mouse_button","button":"left\nmonitor=0 outcome=\"accepted\"\u001b[2J","pressed":true}"#,
        )
        .await;
    let answer = client.message().await;
    let ServerMessage::Error {
        code: ErrorCode::Protocol,
        message,
        ..
    } = answer
    else {
        panic!("{answer:?}");
    };
    assert!(message.contains(r"left\nmonitor=0"), "{message}");
    assert!(!message.contains(['\n', '\x1b']), "{message:?}");

    let refused = agent.process.stderr.wait_for(WAIT, |line| {
        line.contains("mouse_button").then(|| line.to_owned())
    });
    let log = agent.process.stderr.text();
    let refused = refused.unwrap_or_else(|| panic!("no refusal logged: {log}"));
    // The peer's words sit inside one quoted, escaped field of a refusal.
    assert!(refused.contains(r#"outcome="refused""#), "{refused}");
    assert!(refused.contains(r#"reason=""#), "{refused}");
    assert!(refused.contains("monitor=0"), "{refused}");
    assert!(
        !log.lines().any(|line| line.starts_with("monitor=0")),
        "a forged line: {log}"
    );
    // Nobody was accepted, so no field anywhere may say so: not a forged
    // line, and not a forged field inside the refusal's line either.
    assert!(
        !log.contains(r#"outcome="accepted""#),
        "a forged field: {log}"
    );
    assert!(
        !log.contains('\x1b'),
        "an escape sequence reached the log: {log:?}"
    );
}
