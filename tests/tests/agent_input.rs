//! The agent's input path under stress: whatever a stalled desktop and a
//! viewer that leaves mid-keystroke do, no key or button stays held.

use std::time::{Duration, Instant};

use lookout_protocol::{Button, ClientMessage, Key};
use lookout_server::input::{INPUT_QUEUE, InputAction, InputGate};
use lookout_tests::agent::{Options, TestAgent, welcome};
use lookout_tests::client::WAIT;

fn key(key: Key, pressed: bool) -> ClientMessage {
    ClientMessage::Key { key, pressed }
}

fn button(button: Button, pressed: bool) -> ClientMessage {
    ClientMessage::MouseButton { button, pressed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_input_thread_never_leaves_a_key_held() {
    let gate = InputGate::closed();
    let agent = TestAgent::start(Options {
        input_gate: Some(gate.clone()),
        ..Options::default()
    })
    .await;
    let (mut client, _) = welcome(agent.addr).await;
    // Ctrl+click+C over and over while the desktop is stalled: well past
    // the input queue's bound (six keys and buttons and a move a round).
    let rounds = INPUT_QUEUE / 4 + 20;
    for round in 0..rounds {
        let x = (round % 60) as i32;
        client.send(ClientMessage::MouseMove { x, y: 5 }).await;
        client.send(key(Key::Control, true)).await;
        client.send(button(Button::Left, true)).await;
        client.send(key(Key::Char('c'), true)).await;
        client.send(key(Key::Char('c'), false)).await;
        client.send(button(Button::Left, false)).await;
        client.send(key(Key::Control, false)).await;
    }
    // Then it leaves with Ctrl, Shift and a button down.
    client.send(key(Key::Control, true)).await;
    client.send(key(Key::Shift, true)).await;
    client.send(button(Button::Right, true)).await;
    client
        .send(ClientMessage::Text {
            text: "last".into(),
        })
        .await;
    drop(client);
    gate.open();

    // The marker is the viewer's last action: once it is carried out, only
    // the release of what the viewer left held is still to come.
    let last = InputAction::Text("last".into());
    let deadline = Instant::now() + 4 * WAIT;
    while !(agent.input.actions().contains(&last) && agent.input.held().is_empty())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let actions = agent.input.actions();
    assert!(actions.contains(&last), "the queue never drained");
    assert_eq!(agent.input.held(), vec![], "left held on the agent");
    // Nothing was dropped to make room: every press arrived, and was
    // released.
    let ctrl = |pressed| InputAction::Key {
        key: Key::Control,
        pressed,
    };
    let count = |action: &InputAction| actions.iter().filter(|a| *a == action).count();
    assert_eq!(count(&ctrl(true)), rounds + 1);
    assert_eq!(count(&ctrl(false)), rounds + 1);
    agent.stop().await;
}
