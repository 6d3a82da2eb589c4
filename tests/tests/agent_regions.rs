//! Region updates from the agent library (protocol §2.3, feature
//! `regions`), against a screen the test paints: viewers that keep up, that
//! fall behind, and that stop and start again all end with the screen's
//! picture, pixel for pixel within JPEG loss, and a small change costs a
//! small update.

use std::time::{Duration, Instant};

use image::{RgbImage, Rgba};
use lookout_protocol::{ClientMessage, ServerMessage};
use lookout_server::capture::CapturedImage;
use lookout_server::encode::FrameEncoder;
use lookout_tests::agent::{Options, PaintedScreen, TOKEN, TestAgent};
use lookout_tests::client::{Client, decode};
use lookout_tests::compose::{Applied, Composed, with_regions};

const SIZE: (u32, u32) = (1280, 720);

/// The screen as a viewer that took a full frame now would see it: the
/// agent's own encoder at the agent's quality (so the comparison is about
/// composition, not about JPEG loss).
fn reference(screen: &PaintedScreen) -> RgbImage {
    let pixels = screen.pixels.lock().unwrap().clone();
    let image = CapturedImage::rgba(pixels.width(), pixels.height(), pixels.into_raw());
    decode(&FrameEncoder::new(75).encode(&image).unwrap())
}

/// The same for the size and quality of `composed`'s picture: a viewer
/// that could not keep up is given less by the agent (adaptive rate), and
/// converges to the screen in that rendition.
fn reference_for(screen: &PaintedScreen, composed: &Composed) -> RgbImage {
    let pixels = screen.pixels.lock().unwrap().clone();
    let image = CapturedImage::rgba(pixels.width(), pixels.height(), pixels.into_raw());
    let size = composed.picture.as_ref().unwrap().dimensions();
    let scaled = if size == (image.width, image.height) {
        image
    } else {
        lookout_server::scale::scale(&image, size).unwrap()
    };
    let quality = composed.quality.unwrap();
    decode(&FrameEncoder::new(quality).encode(&scaled).unwrap())
}

/// Mean absolute difference per channel, and the worst 16x16 tile's.
fn difference(a: &RgbImage, b: &RgbImage) -> (f64, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (w, h) = a.dimensions();
    let mut worst = 0f64;
    let mut total = 0u64;
    for ty in (0..h).step_by(16) {
        for tx in (0..w).step_by(16) {
            let mut sum = 0u64;
            let mut n = 0u64;
            for y in ty..(ty + 16).min(h) {
                for x in tx..(tx + 16).min(w) {
                    let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
                    sum +=
                        p.0.iter()
                            .zip(q.0)
                            .map(|(u, v)| u64::from(u.abs_diff(v)))
                            .sum::<u64>();
                    n += 3;
                }
            }
            total += sum;
            worst = worst.max(sum as f64 / n as f64);
        }
    }
    (total as f64 / f64::from(w * h * 3), worst)
}

/// A tiny deterministic generator for the damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

/// Paints one random change: a solid rectangle, a gradient, text-like
/// stripes or a texture, anywhere, of any size up to a third of the
/// screen.
fn damage(screen: &PaintedScreen, rng: &mut Rng) {
    let (w, h) = SIZE;
    let (rw, rh) = (1 + rng.below(w / 3), 1 + rng.below(h / 3));
    let (x0, y0) = (rng.below(w - rw), rng.below(h - rh));
    let kind = rng.below(3) * 2 + rng.below(2);
    let seed = rng.next();
    let base = [
        rng.below(256) as u8,
        rng.below(256) as u8,
        rng.below(256) as u8,
    ];
    let mut pixels = screen.pixels.lock().unwrap();
    for y in y0..y0 + rh {
        for x in x0..x0 + rw {
            let c = match kind {
                0 => base,
                1 => [
                    base[0],
                    ((x - x0) * 255 / rw) as u8,
                    ((y - y0) * 255 / rh) as u8,
                ],
                2 if (y / 3 + x / 5) % 4 == 0 => [20, 20, 20],
                2 => base,
                // Texture, which compresses badly: big updates.
                _ => {
                    let n =
                        (u64::from(x) * 31 + u64::from(y) * 17 + seed).wrapping_mul(0x9e37_79b9);
                    [
                        base[0] ^ (n >> 8) as u8 & 0x3f,
                        base[1],
                        base[2] ^ (n >> 16) as u8 & 0x3f,
                    ]
                }
            };
            pixels.put_pixel(x, y, Rgba([c[0], c[1], c[2], 255]));
        }
    }
}

/// Reads updates until none has come for `quiet`; returns them.
async fn settle(client: &mut Client, picture: &mut Composed, quiet: Duration) -> Vec<Applied> {
    let mut applied = Vec::new();
    for _ in 0..1000 {
        match tokio::time::timeout(quiet, picture.next(client, |_| {})).await {
            Ok(update) => applied.push(update),
            Err(_) => return applied,
        }
    }
    panic!("the agent never went quiet");
}

async fn regions_viewer(agent: &TestAgent, receive_buffer: Option<u32>) -> (Client, Composed) {
    let (mut client, welcome) = match receive_buffer {
        None => Client::welcome(agent.endpoint, TOKEN).await,
        Some(bytes) => Client::welcome_with_receive_buffer(agent.endpoint, TOKEN, bytes).await,
    };
    let ServerMessage::Welcome { features, .. } = welcome else {
        unreachable!()
    };
    assert!(features.iter().any(|f| f == "regions"), "{features:?}");
    client.send(with_regions()).await;
    let mut picture = Composed::new();
    let first = picture.next(&mut client, |_| {}).await;
    assert_eq!(
        first.rects, None,
        "the first frame after start_monitor is full"
    );
    (client, picture)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_slow_and_restarting_viewers_all_converge_to_the_screen() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [90, 110, 130, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen.clone()),
        ..Options::default()
    })
    .await;
    let (mut fast, mut fast_picture) = regions_viewer(&agent, None).await;
    // A small window: the agent's socket fills while it does not read, and
    // the agent skips it to the newest picture.
    let (mut slow, mut slow_picture) = regions_viewer(&agent, Some(4096)).await;
    let (mut toggling, mut toggling_picture) = regions_viewer(&agent, None).await;
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut fast_updates = Vec::new();
    let mut slow_updates: Vec<Applied> = Vec::new();
    let started = Instant::now();
    for round in 0..60 {
        damage(&screen, &mut rng);
        // The fast viewer reads what has come; the slow one only every
        // thirtieth round; the toggling one stops and starts again.
        while let Ok(update) = tokio::time::timeout(
            Duration::from_millis(20),
            fast_picture.next(&mut fast, |_| {}),
        )
        .await
        {
            fast_updates.push(update);
        }
        if round % 30 == 29 {
            while let Ok(update) = tokio::time::timeout(
                Duration::from_millis(60),
                slow_picture.next(&mut slow, |_| {}),
            )
            .await
            {
                slow_updates.push(update);
            }
        }
        if round % 13 == 6 {
            toggling.send(ClientMessage::StopMonitor).await;
            settle(
                &mut toggling,
                &mut toggling_picture,
                Duration::from_millis(200),
            )
            .await;
            toggling.send(with_regions()).await;
            toggling_picture.reset();
            let first = toggling_picture.next(&mut toggling, |_| {}).await;
            assert_eq!(first.rects, None, "full after a new start_monitor");
        }
    }
    let quiet = Duration::from_millis(500);
    fast_updates.extend(settle(&mut fast, &mut fast_picture, quiet).await);
    slow_updates.extend(settle(&mut slow, &mut slow_picture, quiet).await);
    settle(&mut toggling, &mut toggling_picture, quiet).await;
    for (name, picture) in [
        ("fast", &fast_picture),
        ("slow", &slow_picture),
        ("toggling", &toggling_picture),
    ] {
        let want = reference_for(&screen, picture);
        let (mean, worst) = difference(picture.picture.as_ref().unwrap(), &want);
        eprintln!(
            "{name}: mean difference {mean:.3}, worst tile {worst:.2}, quality {:?}, {:?}",
            picture.quality,
            want.dimensions()
        );
        assert!(
            mean < 0.5 && worst < 12.0,
            "{name} differs: {mean:.3} mean, {worst:.2} worst tile"
        );
    }
    let regions = fast_updates.iter().filter(|u| u.rects.is_some()).count();
    assert!(
        regions * 2 > fast_updates.len(),
        "mostly region updates: {regions} of {}",
        fast_updates.len()
    );
    let slow_seqs: Vec<u64> = slow_updates.iter().map(|u| u.meta.seq).collect();
    let gaps = slow_seqs.windows(2).filter(|w| w[1] > w[0] + 1).count();
    assert!(gaps > 0, "the slow viewer was never skipped: {slow_seqs:?}");
    // Skipped, it was sent the union of what changed since its picture.
    let caught_up = slow_updates
        .windows(2)
        .filter(|w| w[1].meta.seq > w[0].meta.seq + 1 && w[1].rects.is_some())
        .count();
    assert!(
        caught_up > 0,
        "no region update after a skip: {slow_seqs:?}"
    );
    let bytes: usize = fast_updates.iter().map(|u| u.jpeg_bytes).sum();
    eprintln!("{bytes} bytes of JPEG to the fast viewer");
    eprintln!(
        "{} updates to the fast viewer ({regions} region updates) in {:?}; the slow one skipped {gaps} times",
        fast_updates.len(),
        started.elapsed()
    );
    agent.stop().await;
}

#[tokio::test]
async fn one_changed_character_costs_one_small_rectangle() {
    let screen = PaintedScreen::new(SIZE.0, SIZE.1, [250, 250, 250, 255]);
    let agent = TestAgent::start(Options {
        painted: Some(screen.clone()),
        ..Options::default()
    })
    .await;
    let (mut client, mut picture) = regions_viewer(&agent, None).await;
    // A "character": a 7x13 dark glyph at (100, 200), inside tile (6, 12).
    {
        let mut pixels = screen.pixels.lock().unwrap();
        for y in 201..214 {
            for x in 100..107 {
                if (x + y) % 3 != 0 {
                    pixels.put_pixel(x, y, Rgba([30, 30, 30, 255]));
                }
            }
        }
    }
    let update = picture.next(&mut client, |_| {}).await;
    let rects = update.rects.expect("a region update");
    assert_eq!(rects, [lookout_protocol::Rect::new(96, 192, 16, 32)]);
    assert!(
        update.jpeg_bytes < 1500,
        "{} bytes of JPEG",
        update.jpeg_bytes
    );
    let (mean, _) = difference(picture.picture.as_ref().unwrap(), &reference(&screen));
    assert!(mean < 0.5, "{mean}");
    eprintln!(
        "one glyph: {} bytes of JPEG in {} rect(s)",
        update.jpeg_bytes,
        rects.len()
    );
    agent.stop().await;
}
