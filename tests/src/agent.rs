//! The real agent library in-process on loopback, with a fake screen and a
//! recording input sink: fast tests of the session rules, no display needed.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lookout_protocol::{MonitorInfo, Timeouts};
use lookout_server::capture::{CaptureError, CapturedImage, Capturer};
use lookout_server::input::{InputGate, InputSink, RecordingSink};
use lookout_server::pipeline::CaptureSettings;
use lookout_server::{Access, Agent, Config, Identity, Source, Transport};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::client::{Client, Endpoint, WAIT};

pub const TOKEN: &str = "correct horse battery staple";

/// Logs in with [`TOKEN`] and expects `welcome`.
pub async fn welcome(addr: std::net::SocketAddr) -> (Client, lookout_protocol::ServerMessage) {
    Client::welcome(addr, TOKEN).await
}

/// Two monitors of different sizes and colours; counts captures.
#[derive(Debug, Clone)]
pub struct FakeScreen {
    monitors: Vec<MonitorInfo>,
    pub captures: Arc<AtomicUsize>,
    /// Noise instead of a flat colour: big JPEGs for slow-viewer tests.
    noisy: bool,
    /// Every capture identical (a still screen); otherwise each capture
    /// differs in its first pixel.
    still: bool,
}

pub fn monitors() -> Vec<MonitorInfo> {
    vec![
        MonitorInfo {
            id: 0,
            name: "fake-0".into(),
            x: 0,
            y: 0,
            width: 64,
            height: 48,
            primary: true,
            all: false,
        },
        MonitorInfo {
            id: 1,
            name: "fake-1".into(),
            x: 64,
            y: 0,
            width: 32,
            height: 32,
            primary: false,
            all: false,
        },
    ]
}

impl Capturer for FakeScreen {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        let n = self.captures.fetch_add(1, Ordering::SeqCst);
        let m = self
            .monitors
            .iter()
            .find(|m| m.id == id)
            .ok_or(CaptureError::NoSuchMonitor(id))?;
        let color = if id == 0 {
            [220, 20, 20, 255]
        } else {
            [20, 20, 220, 255]
        };
        let mut rgba = color.repeat((m.width * m.height) as usize);
        if !self.still {
            rgba[..4].copy_from_slice(&(n as u32).to_le_bytes());
        }
        if self.noisy {
            // Pseudo-random noise compresses badly: big JPEGs.
            let mut x = (n as u32).wrapping_mul(2_654_435_761) | 1;
            for px in rgba.chunks_exact_mut(4) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                px[..3].copy_from_slice(&x.to_le_bytes()[..3]);
            }
        }
        Ok(CapturedImage::rgba(m.width, m.height, rgba))
    }
}

/// A one-monitor screen whose pixels the test paints (RGBA): what
/// `capture` returns is what the test drew last.
#[derive(Debug, Clone)]
pub struct PaintedScreen {
    monitors: Vec<MonitorInfo>,
    /// The screen; lock it to paint.
    pub pixels: Arc<std::sync::Mutex<image::RgbaImage>>,
}

impl PaintedScreen {
    /// A `width`x`height` screen of one colour.
    pub fn new(width: u32, height: u32, colour: [u8; 4]) -> Self {
        Self {
            monitors: vec![MonitorInfo {
                id: 0,
                name: "painted".into(),
                x: 0,
                y: 0,
                width,
                height,
                primary: true,
                all: false,
            }],
            pixels: Arc::new(std::sync::Mutex::new(image::RgbaImage::from_pixel(
                width,
                height,
                image::Rgba(colour),
            ))),
        }
    }

    /// The screen now, as RGB.
    pub fn rgb(&self) -> image::RgbImage {
        image::DynamicImage::ImageRgba8(self.pixels.lock().unwrap().clone()).to_rgb8()
    }
}

impl Capturer for PaintedScreen {
    fn monitors(&self) -> &[MonitorInfo] {
        &self.monitors
    }

    fn capture(&mut self, id: u32) -> Result<CapturedImage, CaptureError> {
        if id != 0 {
            return Err(CaptureError::NoSuchMonitor(id));
        }
        let pixels = self.pixels.lock().unwrap();
        Ok(CapturedImage::rgba(
            pixels.width(),
            pixels.height(),
            pixels.as_raw().clone(),
        ))
    }
}

#[derive(Debug)]
pub struct Options {
    pub access: Access,
    pub control: bool,
    pub max_viewers: usize,
    pub fps: u32,
    /// The agent's `--quality`.
    pub quality: u8,
    /// Replace monitor 0 with a big noisy one (for slow-viewer tests).
    pub big_noisy: Option<(u32, u32)>,
    /// A screen that never changes.
    pub still: bool,
    /// TLS with a fresh identity (the default is plain TCP, to keep these
    /// tests about the session, not the transport).
    pub tls: bool,
    /// Session time limits (tests shorten them rather than wait).
    pub timeouts: Timeouts,
    /// Holds the input thread at every action while closed: a stalled
    /// desktop.
    pub input_gate: Option<InputGate>,
    /// The screen is this one, which the test paints.
    pub painted: Option<PaintedScreen>,
    /// Serve the browser viewer too (TLS only; `--no-web` when false).
    pub web: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            access: Access::token(TOKEN),
            control: true,
            max_viewers: 16,
            fps: 30,
            quality: 75,
            big_noisy: None,
            still: false,
            tls: false,
            timeouts: Timeouts::DEFAULT,
            input_gate: None,
            painted: None,
            web: true,
        }
    }
}

/// A running agent on 127.0.0.1 with a fake screen and recording input.
#[derive(Debug)]
pub struct TestAgent {
    pub addr: std::net::SocketAddr,
    /// What a test viewer connects to (pinned TLS, or plain).
    pub endpoint: Endpoint,
    pub captures: Arc<AtomicUsize>,
    pub input: RecordingSink,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<lookout_server::Stopped>,
}

impl TestAgent {
    pub async fn start(opts: Options) -> Self {
        let transport = if opts.tls {
            Transport::TlsWith(Identity::generate().unwrap())
        } else {
            Transport::Plain
        };
        let config = Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            access: opts.access,
            transport,
            control: opts.control,
            capture: CaptureSettings {
                fps: opts.fps,
                quality: opts.quality,
                subsampling: Default::default(),
            },
            monitor: None,
            max_viewers: NonZeroUsize::new(opts.max_viewers).unwrap(),
            source: Source::Screen(Default::default()),
            timeouts: opts.timeouts,
            name: "test-agent".into(),
            exit_on_display_loss: None,
            discovery: false,
            record: None,
            web: opts.web,
        };
        let captures = Arc::new(AtomicUsize::new(0));
        let mut monitors = monitors();
        if let Some((w, h)) = opts.big_noisy {
            monitors[0].width = w;
            monitors[0].height = h;
        }
        let screen = FakeScreen {
            monitors,
            captures: Arc::clone(&captures),
            noisy: opts.big_noisy.is_some(),
            still: opts.still,
        };
        let input = opts
            .input_gate
            .map_or_else(RecordingSink::new, RecordingSink::gated);
        let sink = input.clone();
        let agent = Agent::start(
            &config,
            match opts.painted {
                Some(painted) => {
                    Box::new(move || Ok(Box::new(painted.clone()) as Box<dyn Capturer>))
                }
                None => Box::new(move || Ok(Box::new(screen.clone()) as Box<dyn Capturer>)),
            },
            Some(Box::new(move || {
                Ok(Box::new(sink.clone()) as Box<dyn InputSink>)
            })),
        )
        .await
        .unwrap();
        let addr = agent.local_addr().unwrap();
        let endpoint = Endpoint {
            addr,
            pin: agent.fingerprint(),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(agent.run(shutdown.clone()));
        Self {
            addr,
            endpoint,
            captures,
            input,
            shutdown,
            task,
        }
    }

    pub fn captures(&self) -> usize {
        self.captures.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        timeout(WAIT, self.task)
            .await
            .expect("agent stops in time")
            .unwrap();
    }
}
