//! Per-viewer stream settings from the agent library (protocol §2.2,
//! feature `profiles`), against a screen the test paints: each viewer gets
//! the size, quality and frame rate it asked for, viewers asking alike
//! share one encoding, a scaled viewer's region updates converge to the
//! scaled screen, and its pointer positions are in its frames' pixels.

use std::time::{Duration, Instant};

use image::{RgbImage, Rgba};
use lookout_protocol::{ClientMessage, ServerMessage, StreamSettings};
use lookout_server::capture::CapturedImage;
use lookout_server::encode::FrameEncoder;
use lookout_server::input::InputAction;
use lookout_tests::agent::{Options, PaintedScreen, TOKEN, TestAgent};
use lookout_tests::client::{Client, decode};
use lookout_tests::compose::{Applied, Composed};

const SIZE: (u32, u32) = (1280, 720);

fn settings(max: Option<(u32, u32)>, quality: Option<u32>, fps: Option<u32>) -> ClientMessage {
    ClientMessage::StartMonitor(StreamSettings {
        max_width: max.map(|m| m.0),
        max_height: max.map(|m| m.1),
        quality,
        fps,
        regions: true,
    })
}

/// A viewer that asked `start`, with its first (full) frame applied.
async fn viewer(agent: &TestAgent, start: ClientMessage) -> (Client, Composed, Applied) {
    let (mut client, welcome) = Client::welcome(agent.endpoint, TOKEN).await;
    let ServerMessage::Welcome { features, .. } = welcome else {
        unreachable!()
    };
    assert!(features.iter().any(|f| f == "profiles"), "{features:?}");
    client.send(start).await;
    let mut picture = Composed::new();
    let first = picture.next(&mut client, |_| {}).await;
    assert_eq!(first.rects, None, "the first frame is full");
    (client, picture, first)
}

/// The screen scaled and encoded as a viewer of that rendition that took
/// a full frame now would see it.
fn reference(screen: &PaintedScreen, size: (u32, u32), quality: u8) -> RgbImage {
    let pixels = screen.pixels.lock().unwrap().clone();
    let image = CapturedImage::rgba(pixels.width(), pixels.height(), pixels.into_raw());
    let scaled = lookout_server::scale::scale(&image, size).unwrap();
    decode(&FrameEncoder::new(quality).encode(&scaled).unwrap())
}

fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(p, q)| u64::from(p.abs_diff(*q)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// Paints a rectangle of a colour that depends on `k`, at a place that
/// does too: small changes all over the screen.
fn paint(screen: &PaintedScreen, k: u32) {
    let (x0, y0) = ((k * 197) % (SIZE.0 - 90), (k * 113) % (SIZE.1 - 40));
    let colour = Rgba([
        (k * 40) as u8,
        (k * 90 + 30) as u8,
        255 - (k * 20) as u8,
        255,
    ]);
    let mut pixels = screen.pixels.lock().unwrap();
    for y in y0..y0 + 40 {
        for x in x0..x0 + 90 {
            let c = if (x / 3 + y / 4) % 3 == 0 {
                Rgba([10, 10, 10, 255])
            } else {
                colour
            };
            pixels.put_pixel(x, y, c);
        }
    }
}

/// Reads updates until none has come for `quiet`.
async fn settle(client: &mut Client, picture: &mut Composed, quiet: Duration) -> Vec<Applied> {
    let mut applied = Vec::new();
    for _ in 0..2000 {
        match tokio::time::timeout(quiet, picture.next(client, |_| {})).await {
            Ok(update) => applied.push(update),
            Err(_) => return applied,
        }
    }
    panic!("the agent never went quiet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_viewer_gets_its_size_and_quality_and_converges_to_the_scaled_screen() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [200, 210, 220, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen.clone()),
        ..Options::default()
    })
    .await;
    let thumb = settings(Some((320, 320)), Some(40), None);
    let (mut native, mut native_picture, first) = viewer(&agent, settings(None, None, None)).await;
    assert_eq!((first.meta.width, first.meta.height), SIZE);
    assert_eq!(first.meta.quality, 75);
    let (mut a, mut a_picture, first) = viewer(&agent, thumb.clone()).await;
    assert_eq!(
        (first.meta.width, first.meta.height, first.meta.quality),
        (320, 180, 40),
        "fits 320x320 with the aspect kept, at the quality asked"
    );
    let (mut b, mut b_picture, _) = viewer(&agent, thumb).await;
    // Asking for more than the agent gives is capped by it.
    let (mut half, mut half_picture, first) =
        viewer(&agent, settings(Some((640, 4000)), Some(100), None)).await;
    assert_eq!(
        (first.meta.width, first.meta.height, first.meta.quality),
        (640, 360, 75)
    );
    // Painted while every viewer reads (a viewer that does not read is
    // skipped, and two skipped viewers share fewer updates).
    let painter = {
        let screen = screen.clone();
        tokio::spawn(async move {
            for k in 0..40 {
                paint(&screen, k);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let quiet = Duration::from_millis(1500);
    let (native_updates, a_updates, b_updates, _) = tokio::join!(
        settle(&mut native, &mut native_picture, quiet),
        settle(&mut a, &mut a_picture, quiet),
        settle(&mut b, &mut b_picture, quiet),
        settle(&mut half, &mut half_picture, quiet),
    );
    painter.await.unwrap();
    // Every frame of a rendition is of its size, and the scaled ones take
    // region updates too.
    for (name, updates, size) in [
        ("native", &native_updates, SIZE),
        ("thumbnail", &a_updates, (320, 180)),
    ] {
        assert!(
            updates
                .iter()
                .all(|u| (u.meta.width, u.meta.height) == size),
            "{name}"
        );
        assert!(
            updates.iter().any(|u| u.rects.is_some()),
            "{name}: no region update"
        );
    }
    // Two viewers of one rendition that have the same frame get the same
    // update to the next one: one encoding, shared.
    let last = |updates: &[Applied]| updates.last().map(|u| u.meta.seq);
    assert_eq!(last(&a_updates), last(&b_updates), "both end at the newest");
    paint(&screen, 99);
    let (u, v) = tokio::join!(
        a_picture.next(&mut a, |_| {}),
        b_picture.next(&mut b, |_| {})
    );
    assert!(u.rects.is_some());
    assert_eq!(
        (u.meta.seq, &u.rects, u.jpeg_bytes),
        (v.meta.seq, &v.rects, v.jpeg_bytes)
    );
    let quiet = Duration::from_millis(600);
    let _ = tokio::join!(
        settle(&mut native, &mut native_picture, quiet),
        settle(&mut a, &mut a_picture, quiet),
        settle(&mut b, &mut b_picture, quiet),
        settle(&mut half, &mut half_picture, quiet),
    );
    for (name, picture, size, quality, limit) in [
        ("native", &native_picture, SIZE, 75, 0.5),
        ("thumbnail a", &a_picture, (320, 180), 40, 1.5),
        ("thumbnail b", &b_picture, (320, 180), 40, 1.5),
        ("half", &half_picture, (640, 360), 75, 1.0),
    ] {
        let mean = mean_difference(
            picture.picture.as_ref().unwrap(),
            &reference(&screen, size, quality),
        );
        eprintln!("{name}: mean difference {mean:.3}");
        assert!(
            mean < limit,
            "{name} differs from the scaled screen: {mean:.3}"
        );
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_asks_for_two_frames_a_second_gets_no_more() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [40, 40, 40, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen.clone()),
        ..Options::default()
    })
    .await;
    let (mut slow, mut slow_picture, _) = viewer(&agent, settings(None, None, Some(2))).await;
    let (mut fast, mut fast_picture, _) = viewer(&agent, settings(None, None, None)).await;
    let painter = {
        let screen = screen.clone();
        tokio::spawn(async move {
            for k in 0..150 {
                paint(&screen, k);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let window = Duration::from_secs(3);
    let (slow_frames, fast_frames) = tokio::join!(
        frames_within(&mut slow, &mut slow_picture, window),
        frames_within(&mut fast, &mut fast_picture, window)
    );
    painter.abort();
    eprintln!("in {window:?}: {slow_frames} frames at fps 2, {fast_frames} unlimited");
    // 2 a second over 3 s: at most 7 (one may go at the very start).
    assert!(
        (2..=7).contains(&slow_frames),
        "{slow_frames} frames in {window:?} at fps 2"
    );
    assert!(
        fast_frames > slow_frames * 2,
        "the other viewer is not held back: {fast_frames}"
    );
    agent.stop().await;
}

/// How many frames `client` receives within `window`.
async fn frames_within(client: &mut Client, picture: &mut Composed, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut n = 0;
    while let Ok(_update) = tokio::time::timeout_at(end.into(), picture.next(client, |_| {})).await
    {
        n += 1;
    }
    n
}

#[tokio::test]
async fn pointer_positions_are_in_the_scaled_frames_pixels() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [40, 40, 40, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen.clone()),
        ..Options::default()
    })
    .await;
    let (mut client, _picture, first) =
        viewer(&agent, settings(Some((320, 180)), None, None)).await;
    assert_eq!((first.meta.width, first.meta.height), (320, 180));
    client
        .send(ClientMessage::MouseMove { x: 160, y: 90 })
        .await;
    client
        .send(ClientMessage::MouseMove { x: 319, y: 179 })
        .await;
    let want = [
        InputAction::MoveTo { x: 640, y: 360 },
        InputAction::MoveTo { x: 1276, y: 716 },
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.input.actions().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(agent.input.actions(), want);
    agent.stop().await;
}

/// What a viewer reading at most `rate` bytes a second (`None`: as fast as
/// it can) saw of the stream over `span`: each frame's (width, quality,
/// bytes), in order.
async fn watch_at(client: &mut Client, rate: Option<f64>, span: Duration) -> Vec<(u32, u8, usize)> {
    use lookout_protocol::ServerFrame;
    let end = Instant::now() + span;
    let mut frames: Vec<(u32, u8, usize)> = Vec::new();
    for _ in 0..100_000 {
        let next = match tokio::time::timeout_at(end.into(), client.next()).await {
            Ok(Some(next)) => next,
            Ok(None) => panic!("the agent closed the connection"),
            Err(_) => return frames,
        };
        match next {
            ServerFrame::Control(ServerMessage::Frame { width, quality, .. }) => {
                frames.push((width, quality, 0));
            }
            ServerFrame::Image(jpeg) => {
                if let Some(last) = frames.last_mut() {
                    last.2 += jpeg.len();
                }
                if let Some(rate) = rate {
                    tokio::time::sleep(Duration::from_secs_f64(jpeg.len() as f64 / rate)).await;
                }
            }
            ServerFrame::Control(_) => {}
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_gets_a_lower_quality_and_size_and_another_viewer_keeps_its_stream() {
    // A big screen whose every frame is new noise: about 1 MB a frame,
    // more than the slow viewer's 400 KB/s can carry even once a second.
    let agent = TestAgent::start(Options {
        big_noisy: Some((1280, 720)),
        fps: 15,
        ..Options::default()
    })
    .await;
    let (mut slow, _) = Client::welcome_with_receive_buffer(agent.endpoint, TOKEN, 16 * 1024).await;
    slow.send(settings(None, None, None)).await;
    let (mut fast, _) = Client::welcome(agent.endpoint, TOKEN).await;
    fast.send(settings(None, None, None)).await;
    let span = Duration::from_secs(8);
    let (slow_frames, fast_frames) = tokio::join!(
        watch_at(&mut slow, Some(400_000.0), span),
        watch_at(&mut fast, None, span)
    );
    let lowest = slow_frames.iter().map(|f| f.1).min().unwrap();
    let narrowest = slow_frames.iter().map(|f| f.0).min().unwrap();
    eprintln!(
        "slow: {} frames, quality down to {lowest}, width down to {narrowest}; fast: {} frames",
        slow_frames.len(),
        fast_frames.len()
    );
    assert!(lowest < 75, "the slow viewer's quality was never lowered");
    assert!(narrowest < 1280, "nor its size");
    assert_eq!(slow_frames.first().map(|f| (f.0, f.1)), Some((1280, 75)));
    // The other viewer is not touched: every frame native, at its rate.
    assert!(
        fast_frames.iter().all(|f| (f.0, f.1) == (1280, 75)),
        "{fast_frames:?}"
    );
    assert!(
        fast_frames.len() >= 2 * slow_frames.len(),
        "{} frames to the fast viewer",
        fast_frames.len()
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_watched_only_at_two_frames_a_second_is_captured_no_faster() {
    // A screen that changes at every capture, at an agent rate of 30.
    let agent = TestAgent::start(Options::default()).await;
    let (mut thumb, mut picture, _) =
        viewer(&agent, settings(Some((160, 90)), None, Some(2))).await;
    let before = agent.captures();
    let frames = frames_within(&mut thumb, &mut picture, Duration::from_secs(3)).await;
    let captures = agent.captures() - before;
    eprintln!("3 s at fps 2: {captures} captures, {frames} frames");
    assert!(
        captures <= 8,
        "{captures} captures in 3 s for a viewer at 2 a second"
    );
    assert!(frames >= 2, "{frames} frames");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_changing_its_settings_in_a_loop_gets_a_few_full_frames_a_second() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [90, 90, 90, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen),
        ..Options::default()
    })
    .await;
    let (mut client, mut picture, _) = viewer(&agent, settings(None, None, None)).await;
    // A new size every 20 ms for a second, the frames read meanwhile:
    // each start would cost a scale and a full encode.
    let mut full = Vec::new();
    let started = Instant::now();
    for i in 0..50u32 {
        client
            .send(settings(Some((200 + i * 7, 2000)), None, None))
            .await;
        let until = Instant::now() + Duration::from_millis(20);
        while let Ok(update) =
            tokio::time::timeout_at(until.into(), picture.next(&mut client, |_| {})).await
        {
            if update.rects.is_none() {
                full.push(update.meta.width);
            }
        }
    }
    // Then until the last one has come.
    let end = Instant::now() + Duration::from_secs(1);
    while let Ok(update) =
        tokio::time::timeout_at(end.into(), picture.next(&mut client, |_| {})).await
    {
        if update.rects.is_none() {
            full.push(update.meta.width);
        }
    }
    let spent = started.elapsed();
    eprintln!(
        "{} full frames in {spent:?} of 50 starts: {full:?}",
        full.len()
    );
    // One every 250 ms at most.
    let most = (spent.as_millis() / 250 + 1) as usize;
    assert!(
        full.len() <= most,
        "{} full frames, at most {most}",
        full.len()
    );
    // The last settings win: the newest frame fits the last box.
    let last = picture.picture.as_ref().unwrap().width();
    assert_eq!(last, 200 + 49 * 7, "the last size asked");
    agent.stop().await;
}
