//! Setting up a portal session over D-Bus (ashpd): a RemoteDesktop
//! session (keyboard and pointer) with ScreenCast sources (every monitor)
//! where the portal offers RemoteDesktop, a ScreenCast session alone where
//! it does not (xdg-desktop-portal-wlr); persisted "until revoked" with the
//! restore token from the last start, so the consent dialog is answered
//! once; then the PipeWire remote's file descriptor.

use std::os::fd::OwnedFd;

use ashpd::desktop::remote_desktop::{
    Axis, DeviceType, KeyState, RemoteDesktop, SelectDevicesOptions, StartOptions,
};
use ashpd::desktop::screencast::{
    CursorMode, Screencast, SelectSourcesOptions, SourceType, StartCastOptions, Stream,
};
use ashpd::desktop::{PersistMode, Session};

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

use super::{InputEvent, PortalError, PortalStream};

/// An open portal session: what it shares, and the D-Bus side kept alive
/// for as long as the session is used.
pub(super) struct Opened {
    pub streams: Vec<PortalStream>,
    pub pipewire: OwnedFd,
    pub restore_token: Option<String>,
    pub held: Held,
}

/// The session, by kind: only a RemoteDesktop session takes input.
pub(super) enum Held {
    Remote {
        proxy: RemoteDesktop,
        session: Session<RemoteDesktop>,
        /// Both the keyboard and the pointer were granted (the user may
        /// switch remote control off in the dialog, and a restored
        /// session may come back with fewer devices).
        granted: bool,
    },
    Cast {
        session: Session<Screencast>,
    },
}

impl Held {
    /// Whether input can be sent.
    pub(super) fn takes_input(&self) -> bool {
        matches!(self, Held::Remote { granted: true, .. })
    }

    /// Closes the session (the portal also does when our D-Bus
    /// connection goes).
    pub(super) async fn close(&self) {
        let closed = match self {
            Held::Remote { session, .. } => session.close().await,
            Held::Cast { session } => session.close().await,
        };
        if let Err(err) = closed {
            tracing::debug!(error = %err, "closing the portal session");
        }
    }

    /// The session's `Closed` signal (the user stopped sharing from the
    /// desktop, or the compositor ended the cast), one item per signal;
    /// the stream ends with the D-Bus connection. Never ends nor yields
    /// where the signal cannot be subscribed to (said at debug level).
    pub(super) async fn closed(&self) -> BoxStream<'_, ()> {
        let signals = match self {
            Held::Remote { session, .. } => session
                .receive_closed()
                .await
                .map(|s| s.map(|_| ()).boxed()),
            Held::Cast { session } => session
                .receive_closed()
                .await
                .map(|s| s.map(|_| ()).boxed()),
        };
        signals.unwrap_or_else(|err| {
            tracing::debug!(error = %err, "portal: cannot watch the session's Closed signal");
            futures_util::stream::pending().boxed()
        })
    }

    /// Sends one input event to the portal.
    pub(super) async fn send(&self, event: InputEvent) -> Result<(), PortalError> {
        let Held::Remote { proxy, session, .. } = self else {
            return Err(PortalError::ViewOnly);
        };
        let state = |pressed| {
            if pressed {
                KeyState::Pressed
            } else {
                KeyState::Released
            }
        };
        let sent = match event {
            InputEvent::MoveTo { stream, x, y } => {
                proxy
                    .notify_pointer_motion_absolute(session, stream, x, y, Default::default())
                    .await
            }
            InputEvent::Button { code, pressed } => {
                proxy
                    .notify_pointer_button(session, code, state(pressed), Default::default())
                    .await
            }
            InputEvent::Scroll { vertical, steps } => {
                let axis = if vertical {
                    Axis::Vertical
                } else {
                    Axis::Horizontal
                };
                proxy
                    .notify_pointer_axis_discrete(session, axis, steps, Default::default())
                    .await
            }
            InputEvent::Keysym { keysym, pressed } => {
                proxy
                    .notify_keyboard_keysym(session, keysym, state(pressed), Default::default())
                    .await
            }
        };
        sent.map_err(PortalError::from)
    }
}

/// Opens a session, asking the user unless `token` still holds.
pub(super) async fn open(token: Option<&str>) -> Result<Opened, PortalError> {
    let cast = Screencast::new().await?;
    match RemoteDesktop::new().await {
        Ok(remote) if remote.available_device_types().await.is_ok() => {
            open_remote(remote, &cast, token).await
        }
        Ok(_) | Err(_) => {
            tracing::warn!(
                "the desktop portal offers no RemoteDesktop (xdg-desktop-portal-wlr has none): \
                 screen cast only, viewers can watch but not control"
            );
            open_cast(&cast, token).await
        }
    }
}

async fn open_remote(
    remote: RemoteDesktop,
    cast: &Screencast,
    token: Option<&str>,
) -> Result<Opened, PortalError> {
    let session = remote.create_session(Default::default()).await?;
    // A RemoteDesktop session is persisted through its devices; its
    // sources take no restore token of their own.
    let devices = SelectDevicesOptions::default()
        .set_devices(DeviceType::Keyboard | DeviceType::Pointer)
        .set_persist_mode(PersistMode::ExplicitlyRevoked)
        .set_restore_token(token);
    remote.select_devices(&session, devices).await?.response()?;
    cast.select_sources(&session, every_monitor(cast).await)
        .await?
        .response()?;
    let started = remote
        .start(&session, None, StartOptions::default())
        .await?
        .response()
        .map_err(start_failed)?;
    let streams = streams(started.streams())?;
    let restore_token = started.restore_token().map(str::to_owned);
    let devices = started.devices();
    let granted = devices.contains(DeviceType::Keyboard | DeviceType::Pointer);
    if !granted {
        tracing::warn!(
            ?devices,
            "portal: remote control was not granted (keyboard and pointer); viewers can watch but not control"
        );
    }
    let pipewire = cast
        .open_pipe_wire_remote(&session, Default::default())
        .await?;
    Ok(Opened {
        streams,
        pipewire,
        restore_token,
        held: Held::Remote {
            proxy: remote,
            session,
            granted,
        },
    })
}

async fn open_cast(cast: &Screencast, token: Option<&str>) -> Result<Opened, PortalError> {
    let session = cast.create_session(Default::default()).await?;
    let sources = every_monitor(cast)
        .await
        .set_persist_mode(PersistMode::ExplicitlyRevoked)
        .set_restore_token(token);
    cast.select_sources(&session, sources).await?.response()?;
    let started = cast
        .start(&session, None, StartCastOptions::default())
        .await?
        .response()
        .map_err(start_failed)?;
    let streams = streams(started.streams())?;
    let restore_token = started.restore_token().map(str::to_owned);
    let pipewire = cast
        .open_pipe_wire_remote(&session, Default::default())
        .await?;
    Ok(Opened {
        streams,
        pipewire,
        restore_token,
        held: Held::Cast { session },
    })
}

/// The sources every session asks for: all monitors, with the pointer.
async fn every_monitor(cast: &Screencast) -> SelectSourcesOptions {
    SelectSourcesOptions::default()
        .set_sources(Some(SourceType::Monitor.into()))
        .set_multiple(true)
        .set_cursor_mode(cursor_mode(cast).await)
}

/// `Start` answered with a failure that was not the user's "no": the
/// portal's backend could not start the cast.
fn start_failed(err: ashpd::Error) -> PortalError {
    match err {
        ashpd::Error::Response(ashpd::desktop::ResponseError::Other) => PortalError::StartFailed,
        other => other.into(),
    }
}

/// The pointer drawn into the picture where the portal can (viewers see
/// where it is), hidden where only that is offered, and the portal's own
/// default when it does not say (asking for a mode it lacks is an error:
/// xdg-desktop-portal-wlr offers only "embedded").
async fn cursor_mode(cast: &Screencast) -> Option<CursorMode> {
    let modes = cast.available_cursor_modes().await.ok()?;
    [CursorMode::Embedded, CursorMode::Hidden]
        .into_iter()
        .find(|mode| modes.contains(*mode))
}

/// The portal's streams, each a monitor. One without a size (a portal
/// may leave it out) gets its size from the PipeWire format later.
fn streams(streams: &[Stream]) -> Result<Vec<PortalStream>, PortalError> {
    if streams.is_empty() {
        return Err(PortalError::NoStreams);
    }
    Ok(streams
        .iter()
        .map(|s| PortalStream {
            node: s.pipe_wire_node_id(),
            position: s.position(),
            size: s
                .size()
                .and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))),
        })
        .collect())
}
