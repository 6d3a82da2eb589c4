//! The agent binary's start-up guards: weak tokens are refused, and a token
//! it makes up never lands in a log or a journal.

use std::time::Duration;

use lookout_protocol::ServerMessage;
use lookout_tests::client::Client;
use lookout_tests::process::{AgentProcess, Running, command};

#[test]
fn a_short_token_is_refused_at_start() {
    for (option, env) in [
        ("--token", "LOOKOUT_TOKEN"),
        ("--view-token", "LOOKOUT_VIEW_TOKEN"),
    ] {
        for through_env in [false, true] {
            let mut cmd = command("lookout-server");
            cmd.args(["--bind", "127.0.0.1:0", "--source", "test-pattern"])
                .env_remove("LOOKOUT_TOKEN")
                .env_remove("LOOKOUT_VIEW_TOKEN");
            if option == "--view-token" {
                cmd.args(["--token", "a-full-control-token-0123"]);
            }
            if through_env {
                cmd.env(env, "guessable");
            } else {
                cmd.args([option, "guessable"]);
            }
            let mut agent = Running::spawn(cmd);
            let status = agent
                .wait_exit(Duration::from_secs(20))
                .expect("a short token ends the agent at once");
            assert!(!status.success());
            let said = agent.process_output();
            assert!(
                said.contains(option) && said.contains("at least 16"),
                "says which and why: {said}"
            );
            assert!(said.contains("openssl rand"), "says how: {said}");
            assert!(!said.contains("listening"), "{said}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_token_stays_out_of_a_journal() {
    // Piped stdout, as under a service manager: not a terminal.
    let agent = AgentProcess::start(None, &["--source", "test-pattern"]);
    let path = agent.identity_dir().expect("an identity dir").join("token");
    let written = agent
        .process
        .stdout
        .wait_for(Duration::from_secs(10), |line| {
            line.contains(&path.display().to_string()).then_some(())
        });
    assert!(written.is_some(), "stdout names the token file");
    let token = std::fs::read_to_string(&path).expect("the token file");
    let token = token.trim();
    assert_eq!(token.len(), 32, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let (_client, answer) = Client::login(agent.endpoint(), token).await;
    assert!(
        matches!(answer, ServerMessage::Welcome { .. }),
        "the file's token logs in: {answer:?}"
    );
    let said = agent.process.process_output();
    assert!(
        !said.contains(token),
        "the token reached the output: {said}"
    );
}
