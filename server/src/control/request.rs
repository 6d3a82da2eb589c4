//! The control socket's line protocol: one JSON request per line, one JSON
//! reply per line (described in the repository's PROTOCOL.md, "Local
//! control socket"). Pure: parsing and replies, no I/O.

use serde::{Deserialize, Serialize};

use super::status::AgentStatus;

/// The longest request line taken, newline included; a longer one is
/// answered with an error and the connection closes. Requests are a few
/// dozen bytes; a kick message is at most the protocol's error length.
pub const MAX_REQUEST_LEN: usize = 4096;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The agent and its sessions.
    Status,
    /// End session `id`; its viewer is shown `message`.
    Kick {
        /// The session's id, as `status` lists it.
        id: u64,
        /// What the viewer is told.
        #[serde(default)]
        message: Option<String>,
    },
    /// Stop streaming to everyone.
    Pause,
    /// Start streaming again.
    Resume,
}

/// The kicked viewer's message when none is given.
pub const DEFAULT_KICK_MESSAGE: &str = "the agent's user ended this session";

/// One reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `status`'s answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// `pause`/`resume`: whether this changed anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

impl Reply {
    /// Done, nothing to add.
    pub fn done() -> Self {
        Self {
            ok: true,
            error: None,
            status: None,
            changed: None,
        }
    }

    /// Not done, and why.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            ..Self::done()
        }
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"ok":false,"error":"cannot encode the reply"}"#.to_owned());
        line.push('\n');
        line
    }
}

/// Why a request line is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Longer than [`MAX_REQUEST_LEN`].
    #[error("request longer than {MAX_REQUEST_LEN} bytes")]
    TooLong,
    /// Not a request this agent knows.
    #[error("bad request: {0}")]
    Bad(String),
}

/// Parses one request line (with or without its newline).
pub fn parse(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST_LEN {
        return Err(RequestError::TooLong);
    }
    serde_json::from_slice(line).map_err(|err| RequestError::Bad(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses() {
        assert_eq!(parse(br#"{"cmd":"status"}"#), Ok(Request::Status));
        assert_eq!(parse(b"{\"cmd\":\"pause\"}\n"), Ok(Request::Pause));
        assert_eq!(parse(br#"{"cmd":"resume"}"#), Ok(Request::Resume));
        assert_eq!(
            parse(br#"{"cmd":"kick","id":3,"message":"bye"}"#),
            Ok(Request::Kick {
                id: 3,
                message: Some("bye".into())
            })
        );
        assert_eq!(
            parse(br#"{"cmd":"kick","id":3}"#),
            Ok(Request::Kick {
                id: 3,
                message: None
            })
        );
    }

    #[test]
    fn unknown_commands_and_kick_fields_are_refused() {
        assert!(matches!(
            parse(br#"{"cmd":"reboot"}"#),
            Err(RequestError::Bad(_))
        ));
        assert!(matches!(
            parse(br#"{"cmd":"kick"}"#),
            Err(RequestError::Bad(_))
        ));
        assert!(matches!(parse(b"not json"), Err(RequestError::Bad(_))));
    }

    #[test]
    fn a_line_over_the_limit_is_refused_before_parsing() {
        let mut long = br#"{"cmd":"kick","id":1,"message":""#.to_vec();
        long.resize(MAX_REQUEST_LEN + 1, b'a');
        assert_eq!(parse(&long), Err(RequestError::TooLong));
    }

    #[test]
    fn replies_are_one_line() {
        let line = Reply::failed("no\nsuch").to_line();
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(line, "{\"ok\":false,\"error\":\"no\\nsuch\"}\n");
        assert_eq!(Reply::done().to_line(), "{\"ok\":true}\n");
    }
}
