//! The agent's local control socket: a Unix socket, owner-only, that
//! `lookout-server status|kick|pause|resume` talk to ([`request`] has the
//! line protocol, [`client`] the other end).
//!
//! The socket is `$XDG_RUNTIME_DIR/lookout-server/control.sock` (its
//! directory 0700), else `~/.config/lookout-server/control.sock`, or
//! `--control-socket PATH`. A socket that answers means another agent runs:
//! this one refuses to start. One that does not answer is stale and is
//! replaced. It is removed when the agent stops.

pub mod client;
pub mod request;
pub mod status;

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::record::StatusCell;
use crate::session::Shared;
use request::{DEFAULT_KICK_MESSAGE, MAX_REQUEST_LEN, Reply, Request};
use status::AgentStatus;

/// Control clients served at once; more are closed at once. A person runs
/// one command at a time; the bound keeps a looping script from holding
/// many tasks.
const MAX_CLIENTS: usize = 8;

/// A control client that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(10);

/// The socket's file name in its directory.
const FILE_NAME: &str = "control.sock";

/// Why the control socket cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Neither `$XDG_RUNTIME_DIR` nor a config directory.
    #[error("no runtime or config directory for the control socket (is HOME set?)")]
    NoDirectory,
    /// Another agent answers on the path.
    #[error(
        "another lookout-server already runs with the control socket {0} (stop it, or give this one --control-socket PATH)"
    )]
    InUse(PathBuf),
    /// The path holds something that is not a socket.
    #[error("{0} exists and is not a socket; remove it or choose another --control-socket")]
    NotASocket(PathBuf),
    /// A system call failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket's path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The socket path the agent uses and clients connect to.
pub fn socket_path(explicit: Option<&Path>) -> Result<PathBuf, ControlError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    dirs::runtime_dir()
        .or_else(dirs::config_dir)
        .map(|dir| dir.join("lookout-server").join(FILE_NAME))
        .ok_or(ControlError::NoDirectory)
}

/// A bound control socket; its file is removed when this is dropped.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlSocket {
    /// Binds `path` (mode 0600; a missing parent directory is made 0700),
    /// replacing a stale socket and refusing a live one. Needs a tokio
    /// runtime.
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlError::NotASocket(path.to_owned()));
            }
            Ok(_) => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(ControlError::InUse(path.to_owned()));
                }
                tracing::info!(path = %path.display(), "removing a stale control socket");
                std::fs::remove_file(path).map_err(io)?;
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        let socket = Self {
            listener,
            path: path.to_owned(),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(socket)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the control socket needs of the agent.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    address: String,
    fingerprint: Option<String>,
    started: Instant,
    recording: Option<StatusCell>,
}

impl Handle {
    pub(crate) fn new(
        shared: Arc<Shared>,
        address: String,
        fingerprint: Option<String>,
        recording: Option<StatusCell>,
    ) -> Self {
        Self {
            shared,
            address,
            fingerprint,
            started: Instant::now(),
            recording,
        }
    }

    fn status(&self) -> AgentStatus {
        let now = Instant::now();
        AgentStatus {
            name: self.shared.name.clone(),
            address: self.address.clone(),
            fingerprint: self.fingerprint.clone(),
            uptime_secs: now.duration_since(self.started).as_secs(),
            paused: self.shared.hub.paused(),
            monitors: self
                .shared
                .hub
                .monitors()
                .iter()
                .map(|m| {
                    let star = if m.primary { "*" } else { "" };
                    format!("{}:{}x{}{star}", m.id, m.width, m.height)
                })
                .collect(),
            sessions: self.shared.sessions.list(now),
            recording: self.recording.as_ref().map(StatusCell::get),
        }
    }

    /// Carries out one request.
    fn answer(&self, request: Request) -> Reply {
        match request {
            Request::Status => Reply {
                status: Some(self.status()),
                ..Reply::done()
            },
            Request::Kick { id, message } => {
                let message = message.as_deref().unwrap_or(DEFAULT_KICK_MESSAGE);
                if self.shared.sessions.kick(id, message) {
                    Reply::done()
                } else {
                    Reply::failed(format!("no session {id}"))
                }
            }
            Request::Pause | Request::Resume => {
                let pause = request == Request::Pause;
                let changed = self.shared.hub.set_paused(pause);
                if changed {
                    tracing::info!(
                        "streaming {} by the agent's user",
                        if pause { "paused" } else { "resumed" }
                    );
                }
                Reply {
                    changed: Some(changed),
                    ..Reply::done()
                }
            }
        }
    }
}

/// Serves control clients until `cancel` fires; the socket file is
/// removed when this returns.
pub async fn serve(socket: ControlSocket, handle: Handle, cancel: CancellationToken) {
    let clients = Arc::new(Semaphore::new(MAX_CLIENTS));
    let me = rustix::process::geteuid().as_raw();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = socket.listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, say: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let uid = stream.peer_cred().map(|c| c.uid()).ok();
        if !uid.is_some_and(|uid| uid == me || uid == 0) {
            tracing::warn!(?uid, "control socket: a client of another user was refused");
            continue;
        }
        let Ok(place) = Arc::clone(&clients).try_acquire_owned() else {
            continue;
        };
        let handle = handle.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = serve_client(stream, &handle) => {}
            }
            drop(place);
        });
    }
}

/// Answers one client's requests, one line each, until it closes, sends
/// a line that is too long, or stays silent for [`IDLE`].
async fn serve_client(stream: UnixStream, handle: &Handle) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let limited = (&mut read).take(MAX_REQUEST_LEN as u64 + 1);
        let mut limited = limited;
        let got = tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut line)).await;
        let (reply, last) = match got {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
            Ok(Ok(_)) if !line.ends_with(b"\n") && line.len() > MAX_REQUEST_LEN => (
                Reply::failed(request::RequestError::TooLong.to_string()),
                true,
            ),
            Ok(Ok(_)) => match request::parse(&line) {
                Ok(request) => (handle.answer(request), false),
                Err(err) => (Reply::failed(err.to_string()), false),
            },
        };
        let sent = tokio::time::timeout(IDLE, write.write_all(reply.to_line().as_bytes())).await;
        if last || !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
}
