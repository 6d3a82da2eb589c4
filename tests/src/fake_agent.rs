//! A tiny fake agent on 127.0.0.1:0 for driving the viewer end to end:
//! the real handshake (HMAC over the challenge), `welcome`, and on
//! `start_monitor` a scripted series of `frame` + `HT` JPEG pairs, then
//! region updates when the viewer asked for them. An agent that offers
//! `profiles` ([`Script::with_profiles`]) scales its frames down into the
//! box a `start_monitor` asks for, as the real agent does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{ServerCodec, ServerFrame};
use lookout_protocol::{
    AuthMode, BindingMode, Challenge, ChannelBinding, ClientMessage, ErrorCode, MonitorInfo,
    PROTOCOL_VERSION, Rect, ServerMessage, verify_response,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::codec::Framed;

/// Every test gives up after this long instead of hanging.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What the fake agent does.
#[derive(Debug, Clone)]
pub struct Script {
    /// `Some` = `auth: token`; `None` = `auth: none`.
    pub token: Option<String>,
    /// The images sent, in order, after each `start_monitor`.
    pub frames: Vec<image::RgbImage>,
    pub monitors: Vec<MonitorInfo>,
    pub control: bool,
    /// Accept connections but never say hello.
    pub silent: bool,
    /// Turn every viewer away with `busy` after a correct handshake.
    pub busy: bool,
    /// On the first connection, answer `start_monitor` with an image that
    /// has no `frame` message before it (a protocol violation).
    pub bad_image_first: bool,
    /// On the first connection, go quiet after `welcome`: read commands,
    /// answer nothing (no frames, no pongs), like a frozen agent.
    pub mute_first: bool,
    /// What `hello` says the agent is.
    pub server: String,
    /// The message of the `busy` refusal.
    pub busy_message: String,
    /// A frame sent as given (any bytes, any announced size) after each
    /// `start_monitor`, before the images: what a hostile agent sends.
    pub hostile_first: Option<RawFrame>,
    /// When set, the images after `hostile_first` wait for this to be
    /// notified, so a test can look at the viewer in between.
    pub images_after: Option<Arc<Notify>>,
    /// What `welcome.features` lists (`regions`, ...).
    pub features: Vec<String>,
    /// Region updates sent after `frames` on each `start_monitor` that asks
    /// for `regions`, in order: each paints its tiles over the last frame
    /// of `frames` (whose size the updates announce).
    pub regions: Vec<RegionScript>,
    /// On the first connection's first `start_monitor`, `regions` are sent
    /// this many times over (0 and 1: once): a flood for a viewer that
    /// decodes nothing yet.
    pub flood_first: usize,
    /// On the first connection's first `start_monitor`, a region update
    /// for a picture twice as wide and high follows the frames, before
    /// `regions`: its tile lies inside what it announces but outside the
    /// picture the viewer has (an agent breaking the contract).
    pub bad_region_first: bool,
}

/// One region update: tiles, each painted at its rect (the image is the
/// rect's size).
pub type RegionScript = Vec<(Rect, image::RgbImage)>;

/// The `frame.quality` the fake agent reports for region updates, other
/// than its full frames' so a test can tell them apart.
pub const REGION_QUALITY: u8 = 55;

/// A `frame` message and the bytes sent as its image, unchecked.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The announced width.
    pub width: u32,
    /// The announced height.
    pub height: u32,
    /// The `HT` payload.
    pub jpeg: Bytes,
}

impl Script {
    pub fn with_token(token: &str, frames: Vec<image::RgbImage>) -> Self {
        Self {
            token: Some(token.to_owned()),
            frames,
            monitors: vec![monitor(0, 1280, 720)],
            control: true,
            silent: false,
            busy: false,
            bad_image_first: false,
            mute_first: false,
            server: "fake-agent".into(),
            busy_message: "this agent already serves 1 viewers".into(),
            hostile_first: None,
            images_after: None,
            features: Vec::new(),
            regions: Vec::new(),
            flood_first: 0,
            bad_region_first: false,
        }
    }

    /// This script on an agent that offers region updates and sends
    /// `regions` after its frames.
    pub fn with_regions(mut self, regions: Vec<RegionScript>) -> Self {
        self.features = vec!["regions".to_owned()];
        self.regions = regions;
        self
    }

    /// This script on an agent that offers per-viewer stream settings: its
    /// frames are scaled down (shape kept, never up) into the
    /// `max_width` x `max_height` box of each `start_monitor`; region
    /// updates then follow only frames left at their own size.
    pub fn with_profiles(mut self) -> Self {
        self.features.push("profiles".to_owned());
        self
    }
}

/// The size `(width, height)` takes scaled down, shape kept, to fit into
/// `max_width` x `max_height` (either absent: no limit that way); never up.
pub fn fitted(
    (width, height): (u32, u32),
    max_width: Option<u32>,
    max_height: Option<u32>,
) -> (u32, u32) {
    let scale = [
        max_width.map(|m| f64::from(m) / f64::from(width)),
        max_height.map(|m| f64::from(m) / f64::from(height)),
    ]
    .into_iter()
    .flatten()
    .fold(1.0_f64, f64::min);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// The picture a viewer should compose from `full` and `regions`, tile by
/// tile in order.
pub fn composed(full: &image::RgbImage, regions: &[RegionScript]) -> image::RgbImage {
    let mut picture = full.clone();
    for (rect, tile) in regions.iter().flatten() {
        image::imageops::replace(&mut picture, tile, i64::from(rect.x), i64::from(rect.y));
    }
    picture
}

pub fn monitor(id: u32, width: u32, height: u32) -> MonitorInfo {
    MonitorInfo {
        id,
        name: format!("fake-{id}"),
        x: 0,
        y: 0,
        width,
        height,
        primary: id == 0,
        all: false,
    }
}

/// One command the agent received: which connection (0, 1, ...) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub connection: usize,
    pub msg: ClientMessage,
}

/// A running fake agent.
#[derive(Debug)]
pub struct FakeAgent {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    kick: Arc<Notify>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAgent {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kick = Arc::new(Notify::new());
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::new(script),
            Arc::clone(&seen),
            Arc::clone(&kick),
            Arc::clone(&connections),
        ));
        Self {
            addr,
            seen,
            kick,
            connections,
            task,
        }
    }

    /// `127.0.0.1:PORT`, as a viewer argument.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Everything received so far (after the handshake).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Drops the current connection, as an agent restart would.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Waits until `pred` holds for the received commands.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Seen]) -> bool) {
        let waited = tokio::time::timeout(TEST_TIMEOUT, async {
            loop {
                if pred(&self.seen()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}: {:?}",
            self.seen()
        );
    }
}

async fn accept_loop(
    listener: TcpListener,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    kick: Arc<Notify>,
    connections: Arc<AtomicUsize>,
) {
    let mut connection = 0;
    while let Ok((stream, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        // One viewer at a time is all these tests need; serving inline
        // keeps connection numbers in order.
        serve(stream, connection, &script, &seen, &kick).await;
        connection += 1;
    }
}

async fn serve(
    stream: TcpStream,
    connection: usize,
    script: &Script,
    seen: &Mutex<Vec<Seen>>,
    kick: &Notify,
) {
    if script.silent {
        tokio::select! {
            () = kick.notified() => {}
            () = tokio::time::sleep(TEST_TIMEOUT) => {}
        }
        return;
    }
    let mut framed = Framed::new(stream, ServerCodec::default());
    let challenge = Challenge::generate().unwrap();
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server: script.server.clone(),
        auth: if script.token.is_some() {
            AuthMode::Token
        } else {
            AuthMode::None
        },
        // Plain TCP: nothing to bind to.
        binding: BindingMode::None,
        challenge,
    };
    if framed.send(ServerFrame::Control(hello)).await.is_err() {
        return;
    }
    let Some(Ok(ClientMessage::Auth { response, .. })) = framed.next().await else {
        return;
    };
    let ok = match &script.token {
        Some(token) => verify_response(token, &challenge, &ChannelBinding::None, &response),
        // The viewer must send an empty response to an open agent.
        None => response.is_empty(),
    };
    if !ok {
        let refusal = ServerMessage::error(ErrorCode::AuthFailed, "authentication failed");
        let _ = framed.send(ServerFrame::Control(refusal)).await;
        return;
    }
    if script.busy {
        let busy = ServerMessage::error(ErrorCode::Busy, script.busy_message.clone());
        let _ = framed.send(ServerFrame::Control(busy)).await;
        return;
    }
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        name: "fake-agent".into(),
        monitor: script.monitors.first().map_or(0, |m| m.id),
        control: script.control,
        features: script.features.clone(),
        monitors: script.monitors.clone(),
    };
    if framed.send(ServerFrame::Control(welcome)).await.is_err() {
        return;
    }
    let profiles = script.features.iter().any(|f| f == "profiles");
    let regions: Vec<Vec<(Rect, Bytes)>> = script
        .regions
        .iter()
        .map(|tiles| tiles.iter().map(|(rect, img)| (*rect, jpeg(img))).collect())
        .collect();
    let picture = script
        .frames
        .last()
        .map_or((0, 0), |img| (img.width(), img.height()));
    let mut seq = 0;
    let mut starts = 0;
    loop {
        let msg = tokio::select! {
            () = kick.notified() => return,
            msg = framed.next() => match msg {
                Some(Ok(msg)) => msg,
                _ => return,
            },
        };
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                connection,
                msg: msg.clone(),
            });
        match msg {
            _ if script.mute_first && connection == 0 => {}
            ClientMessage::StartMonitor(_) if script.bad_image_first && connection == 0 => {
                if let Some(img) = script.frames.first() {
                    let _ = framed.send(ServerFrame::Image(jpeg(img))).await;
                }
            }
            ClientMessage::StartMonitor(settings) => {
                let (max_width, max_height) = if profiles {
                    (settings.max_width, settings.max_height)
                } else {
                    (None, None)
                };
                let jpegs = scaled_jpegs(&script.frames, max_width, max_height);
                let unscaled = jpegs
                    .last()
                    .is_none_or(|&(width, height, _)| (width, height) == picture);
                if let Some(hostile) = &script.hostile_first {
                    seq += 1;
                    let sent = send_frame(
                        &mut framed,
                        seq,
                        hostile.width,
                        hostile.height,
                        &hostile.jpeg,
                    );
                    if !sent.await {
                        return;
                    }
                }
                if let Some(gate) = &script.images_after {
                    tokio::select! {
                        () = gate.notified() => {}
                        () = kick.notified() => return,
                    }
                }
                for (width, height, jpeg) in &jpegs {
                    seq += 1;
                    let meta = ServerMessage::Frame {
                        seq,
                        width: *width,
                        height: *height,
                        captured_at_us: now_us(),
                        quality: FAKE_QUALITY,
                        rects: None,
                    };
                    if framed.send(ServerFrame::Control(meta)).await.is_err()
                        || framed.send(ServerFrame::Image(jpeg.clone())).await.is_err()
                    {
                        return;
                    }
                }
                starts += 1;
                let first = connection == 0 && starts == 1;
                if first && script.bad_region_first && settings.regions {
                    seq += 1;
                    let (w, h) = picture;
                    let tile = jpeg(&image::RgbImage::new(16, 16));
                    let outside = [(Rect::new(w, h, 16, 16), tile)];
                    if !send_region(&mut framed, seq, (w * 2, h * 2), &outside).await {
                        return;
                    }
                }
                let rounds = if first { script.flood_first.max(1) } else { 1 };
                // Only to a viewer that asked, as the contract says.
                let asked = regions.iter().filter(|_| settings.regions && unscaled);
                for tiles in asked.cycle().take(regions.len() * rounds) {
                    seq += 1;
                    if !send_region(&mut framed, seq, picture, tiles).await {
                        return;
                    }
                }
            }
            ClientMessage::Ping { id } => {
                let pong = framed.send(ServerFrame::Control(ServerMessage::Pong { id }));
                if pong.await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// `frames` as JPEGs with their sizes, each scaled down into the box.
fn scaled_jpegs(
    frames: &[image::RgbImage],
    max_width: Option<u32>,
    max_height: Option<u32>,
) -> Vec<(u32, u32, Bytes)> {
    frames
        .iter()
        .map(|img| {
            let (width, height) = fitted(img.dimensions(), max_width, max_height);
            if (width, height) == img.dimensions() {
                return (width, height, jpeg(img));
            }
            let small =
                image::imageops::resize(img, width, height, image::imageops::FilterType::Triangle);
            (width, height, jpeg(&small))
        })
        .collect()
}

/// The `frame.quality` the fake agent reports (its JPEGs are made
/// elsewhere; the viewer only reads the field).
const FAKE_QUALITY: u8 = 80;

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Sends a `frame` message and `jpeg` as its image; false when the
/// connection is gone.
async fn send_frame(
    framed: &mut Framed<TcpStream, ServerCodec>,
    seq: u64,
    width: u32,
    height: u32,
    jpeg: &Bytes,
) -> bool {
    let meta = ServerMessage::Frame {
        seq,
        width,
        height,
        captured_at_us: now_us(),
        quality: FAKE_QUALITY,
        rects: None,
    };
    framed.send(ServerFrame::Control(meta)).await.is_ok()
        && framed.send(ServerFrame::Image(jpeg.clone())).await.is_ok()
}

/// Sends a region update of a `picture`-sized frame; false when the
/// connection is gone.
async fn send_region(
    framed: &mut Framed<TcpStream, ServerCodec>,
    seq: u64,
    (width, height): (u32, u32),
    tiles: &[(Rect, Bytes)],
) -> bool {
    let meta = ServerMessage::Frame {
        seq,
        width,
        height,
        captured_at_us: now_us(),
        quality: REGION_QUALITY,
        rects: Some(tiles.iter().map(|(rect, _)| *rect).collect()),
    };
    if framed.send(ServerFrame::Control(meta)).await.is_err() {
        return false;
    }
    for (_, jpeg) in tiles {
        if framed.send(ServerFrame::Image(jpeg.clone())).await.is_err() {
            return false;
        }
    }
    true
}

/// A small progressive JPEG (a few hundred bytes) whose SOF2 header claims
/// `width` by `height`: decoded naively, it makes the decoder allocate for
/// the claimed size.
pub fn progressive_claiming(width: u16, height: u16) -> Bytes {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([10, 200, 30]));
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.set_progressive(true);
    encoder
        .encode(img.as_raw(), 16, 16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    // SOF2 = FF C2, length (2), precision (1), height (2), width (2).
    let sof = out
        .windows(2)
        .position(|w| w == [0xff, 0xc2])
        .expect("a progressive JPEG has an SOF2 header");
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    Bytes::from(out)
}

/// A baseline JPEG of `img` at high quality.
pub fn jpeg(img: &image::RgbImage) -> Bytes {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(img)
        .unwrap();
    Bytes::from(out)
}

/// A smooth test picture (JPEG-friendly): gradients in each channel.
pub fn gradient(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x + y) * 127 / (width + height).max(1)) as u8,
        ])
    })
}
