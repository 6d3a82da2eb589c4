//! Harness for the agent's fast integration tests: the real agent library on
//! loopback, with a fake capture source and a recording input sink.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{ServerFrame, ViewerCodec};
use lookout_protocol::{ClientMessage, MonitorInfo, ServerMessage, auth_response};
use lookout_server::capture::{CaptureError, CapturedImage, Capturer};
use lookout_server::input::{InputSink, RecordingSink};
use lookout_server::stream::CaptureSettings;
use lookout_server::{Access, Agent, Config, Source};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "correct horse battery staple";
/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Two monitors of different sizes and colours; counts captures.
pub struct FakeScreen {
    monitors: Vec<MonitorInfo>,
    pub captures: Arc<AtomicUsize>,
    /// Side length multiplier: big frames make slow-viewer tests meaningful.
    noisy: bool,
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
        },
        MonitorInfo {
            id: 1,
            name: "fake-1".into(),
            x: 64,
            y: 0,
            width: 32,
            height: 32,
            primary: false,
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
        Ok(CapturedImage {
            width: m.width,
            height: m.height,
            rgba,
        })
    }
}

pub struct Options {
    pub access: Access,
    pub control: bool,
    pub max_viewers: usize,
    pub fps: u32,
    /// Replace monitor 0 with a big noisy one (for slow-viewer tests).
    pub big_noisy: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            access: Access::Token {
                token: TOKEN.into(),
                generated: false,
            },
            control: true,
            max_viewers: 16,
            fps: 30,
            big_noisy: None,
        }
    }
}

/// A running agent on 127.0.0.1 with a fake screen and recording input.
pub struct TestAgent {
    pub addr: std::net::SocketAddr,
    pub captures: Arc<AtomicUsize>,
    pub input: RecordingSink,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl TestAgent {
    pub async fn start(opts: Options) -> Self {
        let config = Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            access: opts.access,
            control: opts.control,
            capture: CaptureSettings {
                fps: opts.fps,
                quality: 75,
            },
            monitor: None,
            max_viewers: NonZeroUsize::new(opts.max_viewers).unwrap(),
            source: Source::Screen,
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
        };
        let input = RecordingSink::new();
        let sink = input.clone();
        let agent = Agent::start(
            &config,
            Box::new(move || Ok(Box::new(screen) as Box<dyn Capturer>)),
            Some(Box::new(move || Ok(Box::new(sink) as Box<dyn InputSink>))),
        )
        .await
        .unwrap();
        let addr = agent.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(agent.run(shutdown.clone()));
        Self {
            addr,
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

/// A protocol-level test viewer.
pub struct Client {
    pub framed: Framed<TcpStream, ViewerCodec>,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Self {
            framed: Framed::new(stream, ViewerCodec::default()),
        }
    }

    /// Connects and authenticates with `token`; returns the server's answer
    /// to the auth (welcome or error).
    pub async fn login(addr: std::net::SocketAddr, token: &str) -> (Self, ServerMessage) {
        let mut client = Self::connect(addr).await;
        let ServerMessage::Hello { challenge, .. } = client.message().await else {
            panic!("expected hello first");
        };
        client
            .send(ClientMessage::Auth {
                protocol: 1,
                client: "test".into(),
                response: auth_response(token, &challenge),
            })
            .await;
        let answer = client.message().await;
        (client, answer)
    }

    /// Logs in with the right token and expects `welcome`.
    pub async fn welcome(addr: std::net::SocketAddr) -> (Self, ServerMessage) {
        let (client, answer) = Self::login(addr, TOKEN).await;
        assert!(
            matches!(answer, ServerMessage::Welcome { .. }),
            "expected welcome, got {answer:?}"
        );
        (client, answer)
    }

    pub async fn send(&mut self, msg: ClientMessage) {
        timeout(WAIT, self.framed.send(msg)).await.unwrap().unwrap();
    }

    /// The next frame of any kind, or `None` at EOF / error.
    pub async fn next(&mut self) -> Option<ServerFrame> {
        match timeout(WAIT, self.framed.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(_) => None,
            Err(_) => panic!("nothing from the agent within {WAIT:?}"),
        }
    }

    /// The next control message, skipping nothing: images are an error here.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            Some(ServerFrame::Control(msg)) => msg,
            other => panic!("expected a control message, got {other:?}"),
        }
    }

    /// The next `frame` + `HT` pair, skipping other control messages.
    pub async fn image(&mut self) -> (ServerMessage, Bytes) {
        loop {
            match self.next().await {
                Some(ServerFrame::Control(meta @ ServerMessage::Frame { .. })) => {
                    match self.next().await {
                        Some(ServerFrame::Image(jpeg)) => return (meta, jpeg),
                        other => panic!("frame message not followed by an image: {other:?}"),
                    }
                }
                Some(ServerFrame::Control(_)) => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    /// Whether the agent closes the connection within `within` (skipping
    /// whatever it still sends).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Round-trips a ping: proves the connection is alive and everything
    /// sent before it was processed.
    pub async fn ping(&mut self, id: u64) -> Vec<ServerMessage> {
        self.send(ClientMessage::Ping { id }).await;
        let mut before = Vec::new();
        for _ in 0..1000 {
            match self.next().await {
                Some(ServerFrame::Control(ServerMessage::Pong { id: got })) if got == id => {
                    return before;
                }
                Some(ServerFrame::Control(msg)) => before.push(msg),
                Some(ServerFrame::Image(_)) => {}
                None => panic!("connection closed while waiting for pong {id}"),
            }
        }
        panic!("no pong {id} among 1000 frames");
    }
}

/// Decodes a JPEG to RGB8.
pub fn decode(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory(jpeg).unwrap().to_rgb8()
}
