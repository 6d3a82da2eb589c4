//! The other end of the control socket: `lookout-server status|kick|pause|
//! resume` send one request and read one reply. Blocking: a command-line
//! tool does one thing at a time.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::request::{Reply, Request};

/// How long the agent has to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The longest reply taken: a status of many sessions is a few KiB each
/// way; this leaves room for far more than `--max-viewers` allows.
const MAX_REPLY_LEN: u64 = 4 << 20;

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there.
    #[error("no agent answers on {path} (is lookout-server running as this user?): {source}")]
    Connect {
        /// The socket's path.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The exchange broke.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The reply was not a reply.
    #[error("the agent's reply is not understood: {0}")]
    Reply(#[from] serde_json::Error),
}

/// Sends `request` to the agent at `path` and returns its reply.
pub fn ask(path: &Path, request: &Request) -> Result<Reply, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(ANSWER_WITHIN))?;
    stream.set_write_timeout(Some(ANSWER_WITHIN))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = Vec::new();
    BufReader::new(stream.take(MAX_REPLY_LEN)).read_until(b'\n', &mut reply)?;
    Ok(serde_json::from_slice(&reply)?)
}
