//! Typed `HC` control messages, both directions, and their JSON form:
//! what both sides share here, the server's messages in [`server`], the
//! viewer's in [`client`].

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ProtocolError;
use crate::frame::{HEADER_LEN, frame_header};
use crate::limits::Limits;
use crate::tag::Tag;

mod client;
mod server;

pub use client::ClientMessage;
pub use server::{ServerFrame, ServerMessage};

/// Whether the server asks for a token proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// The viewer must answer the challenge with the shared token.
    Token,
    /// Any response (even empty) is accepted.
    None,
}

/// One monitor the server can stream, as listed in `welcome` and `monitors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// The id to use with `select_monitor`.
    pub id: u32,
    /// A human-readable name.
    pub name: String,
    /// Left edge in the server's desktop coordinates.
    pub x: i32,
    /// Top edge in the server's desktop coordinates.
    pub y: i32,
    /// Width in physical pixels.
    pub width: u32,
    /// Height in physical pixels.
    pub height: u32,
    /// Whether this is the primary monitor.
    pub primary: bool,
    /// Whether this entry is the whole desktop as one picture (feature
    /// `all-monitors`). Absent means `false`, and `false` is not sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all: bool,
}

/// Serde's `skip_serializing_if` for [`MonitorInfo::all`].
fn is_false(value: &bool) -> bool {
    !*value
}

impl ProtocolError {
    /// The error code to report to the peer: always [`ErrorCode::Protocol`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Protocol
    }
}

/// The `code` of an `error` message: for programs, where `message` is for
/// people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The peer broke the protocol; the connection closes.
    Protocol,
    /// The token proof was wrong; the connection closes.
    AuthFailed,
    /// Too many viewers; the connection closes.
    Busy,
    /// An input command on a view-only session; the connection stays open.
    ControlDisabled,
    /// A well-formed command that cannot be carried out; the connection stays
    /// open.
    BadRequest,
    /// Something failed inside the server.
    Internal,
    /// A code this version does not know (received from a newer peer).
    /// Never sent.
    #[serde(other)]
    Unknown,
}

/// A mouse button of the `mouse_button` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    /// The primary button.
    Left,
    /// The secondary button.
    Right,
    /// The wheel button.
    Middle,
}

/// Whether frames flow to a monitoring viewer (§2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Frames flow (again).
    Live,
    /// The watched machine's user paused sharing.
    Paused,
    /// The server cannot capture: the display went away, or capture keeps
    /// failing.
    Unavailable,
}

/// Serialises straight into `dst` behind a placeholder header, then fills in
/// the length: no intermediate buffer. On error `dst` is left as it was.
fn encode_json<M: Serialize>(
    msg: &M,
    kind: &'static str,
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let start = dst.len();
    dst.put_slice(&[0; HEADER_LEN]);
    let written = serde_json::to_writer(dst.writer(), msg)
        .map_err(|source| ProtocolError::InvalidMessage {
            kind: kind.to_owned(),
            source,
        })
        .and_then(|()| {
            let len = dst.len() - start - HEADER_LEN;
            frame_header(Tag::Control, len, &Limits::viewer())
        });
    match written {
        Ok(header) => {
            if let Some(slot) = dst.get_mut(start..start + HEADER_LEN) {
                slot.copy_from_slice(&header);
            }
            Ok(())
        }
        Err(err) => {
            dst.truncate(start);
            Err(err)
        }
    }
}

/// Parses a JSON payload into `M`, telling bad JSON, an unknown `"type"` and a
/// malformed known message apart.
fn parse_json<M: DeserializeOwned>(payload: &[u8], known: &[&str]) -> Result<M, ProtocolError> {
    let text = std::str::from_utf8(payload)?;
    serde_json::from_str(text).map_err(|err| classify(text, err, known))
}

/// Only runs on the error path, so a second parse costs nothing in practice.
fn classify(text: &str, err: serde_json::Error, known: &[&str]) -> ProtocolError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    match serde_json::from_str::<Envelope<'_>>(text) {
        Err(_) => ProtocolError::InvalidJson(err),
        Ok(Envelope { kind }) => {
            // Echoed into logs and error messages: keep it short.
            let kind: String = kind.chars().take(64).collect();
            if known.contains(&kind.as_str()) {
                ProtocolError::InvalidMessage { kind, source: err }
            } else {
                ProtocolError::UnknownType(kind)
            }
        }
    }
}

/// Accepts any JSON number as a pixel coordinate: rounded, saturated to `i32`
/// (the server clamps to the monitor anyway).
fn coordinate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    // `as` saturates and maps NaN to 0, which JSON cannot carry anyway.
    Ok(value.round() as i32)
}
