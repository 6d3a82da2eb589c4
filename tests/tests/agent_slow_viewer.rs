//! A viewer that never reads must cost the agent at most a frame or two and
//! must not slow anyone else down.

use std::time::Duration;

use lookout_protocol::{ClientMessage, ServerMessage};
use lookout_tests::agent::{Options, TestAgent, welcome};
use lookout_tests::client::Client;

/// Resident memory of this process (agent and test clients), in bytes.
pub(crate) fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Counts frames a viewer receives in `window`, and the span of `seq` they
/// cover (how many frames the agent produced meanwhile).
pub(crate) async fn measure(client: &mut Client, window: Duration) -> (u64, u64) {
    let start = tokio::time::Instant::now();
    let mut received = 0;
    let mut first = None;
    let mut last = 0;
    while start.elapsed() < window {
        let (ServerMessage::Frame { seq, .. }, _) = client.image().await else {
            unreachable!()
        };
        first.get_or_insert(seq);
        last = seq;
        received += 1;
    }
    (received, last - first.unwrap_or(last) + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_viewer_next_to_a_fast_one_costs_no_backlog_and_no_frame_rate() {
    // 640x360 of noise: ~300 KB JPEGs, so a backlog would show at once.
    let agent = TestAgent::start(Options {
        big_noisy: Some((640, 360)),
        fps: 20,
        ..Options::default()
    })
    .await;
    let (mut fast, _) = welcome(agent.addr).await;
    fast.send(ClientMessage::start_monitor()).await;
    let (alone, alone_span) = measure(&mut fast, Duration::from_secs(2)).await;

    let (mut stalled, _) = welcome(agent.addr).await;
    stalled.send(ClientMessage::start_monitor()).await;
    // From here on `stalled` is never read: its socket buffers fill up and
    // the agent's writes to it block.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss();
    let (with_stalled, span) = measure(&mut fast, Duration::from_secs(4)).await;
    let grown = rss().saturating_sub(before);

    let rate_alone = alone as f64 / 2.0;
    let rate_with = with_stalled as f64 / 4.0;
    eprintln!(
        "alone: {alone}/{alone_span} frames ({rate_alone:.1}/s); next to a stalled viewer: \
         {with_stalled}/{span} ({rate_with:.1}/s); memory grew {} KiB",
        grown / 1024
    );
    assert!(
        with_stalled as f64 >= 0.9 * span as f64,
        "fast viewer missed frames: {with_stalled} of {span}"
    );
    assert!(
        rate_with >= 0.8 * rate_alone,
        "fast viewer slowed down: {rate_alone:.1}/s -> {rate_with:.1}/s"
    );
    // Four seconds at 20 fps of 300 KB frames would be ~24 MB of backlog.
    assert!(grown < 8 * 1024 * 1024, "memory grew by {grown} bytes");
    drop(stalled);
    agent.stop().await;
}
