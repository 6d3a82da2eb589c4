//! The place kept for control: view-only viewers cannot fill every place
//! of `--max-viewers` and keep the person with control out.

use lookout_protocol::{ErrorCode, ServerMessage};
use lookout_server::Access;
use lookout_tests::agent::{Options, TOKEN, TestAgent};
use lookout_tests::client::Client;

const VIEW_TOKEN: &str = "a view-only token for the places test";

fn busy(answer: &ServerMessage) -> bool {
    matches!(
        answer,
        ServerMessage::Error {
            code: ErrorCode::Busy,
            ..
        }
    )
}

#[tokio::test]
async fn view_only_viewers_cannot_take_the_control_slot() {
    let agent = TestAgent::start(Options {
        access: Access::Token {
            token: TOKEN.into(),
            view_token: Some(VIEW_TOKEN.into()),
            generated: false,
        },
        max_viewers: 3,
        ..Options::default()
    })
    .await;
    // View-only viewers get max - 1 places...
    let (_view1, _) = Client::welcome(agent.endpoint, VIEW_TOKEN).await;
    let (_view2, _) = Client::welcome(agent.endpoint, VIEW_TOKEN).await;
    let (_, answer) = Client::login(agent.endpoint, VIEW_TOKEN).await;
    assert!(busy(&answer), "a third view-only viewer got {answer:?}");
    // ...and the last one is there for control.
    let (_admin, welcome) = Client::welcome(agent.endpoint, TOKEN).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { control: true, .. }),
        "{welcome:?}"
    );
    let (_, answer) = Client::login(agent.endpoint, TOKEN).await;
    assert!(busy(&answer), "a fourth viewer got {answer:?}");
    agent.stop().await;
}

#[tokio::test]
async fn without_a_view_token_every_place_is_alike() {
    let agent = TestAgent::start(Options {
        max_viewers: 2,
        ..Options::default()
    })
    .await;
    let (_first, _) = Client::welcome(agent.endpoint, TOKEN).await;
    let (_second, _) = Client::welcome(agent.endpoint, TOKEN).await;
    let (_, answer) = Client::login(agent.endpoint, TOKEN).await;
    assert!(busy(&answer), "{answer:?}");
    agent.stop().await;
}
