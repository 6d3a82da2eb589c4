//! Which input sink goes with the screen capture: the one of the backend
//! the capturer settled on ([`ChosenBackend`]), and no other. A backend
//! whose input cannot be had (a portal session without RemoteDesktop, or
//! one that ended) leaves the agent view only: input never switches to
//! another backend's devices, which would steer a desktop other than the
//! one the viewers see, or one the user did not allow.

use super::{EnigoSink, InputError, InputSink, InputSinkFactory};
#[cfg(target_os = "linux")]
use super::{PortalSink, WlrSink};
use crate::capture::{CaptureBackend, ChosenBackend};

/// The input devices used with a capture backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputBackend {
    /// The portal session's RemoteDesktop, or none (view only).
    Portal,
    /// The wlroots virtual pointer and keyboard, or none.
    Wlr,
    /// enigo (X11, and the other platforms).
    Enigo,
    /// No capturer chose (the test pattern): wlroots in a Wayland
    /// session, enigo elsewhere.
    WlrElseEnigo,
}

/// The input of the backend the capturer chose, or of the one asked for
/// while it has chosen none.
fn input_backend(requested: CaptureBackend, chosen: Option<CaptureBackend>) -> InputBackend {
    match chosen.unwrap_or(requested) {
        CaptureBackend::Portal => InputBackend::Portal,
        CaptureBackend::Wlr => InputBackend::Wlr,
        CaptureBackend::X11 | CaptureBackend::Xcap => InputBackend::Enigo,
        CaptureBackend::Auto => InputBackend::WlrElseEnigo,
    }
}

/// The input sink factory for the real desktop, following the capturer:
/// `chosen` is the backend [`crate::capture::open`] settled on (`requested`
/// until it has; the test pattern never does). Each call makes the sink of
/// that backend or fails: the agent is then view only, and says why.
pub fn desktop_input(requested: CaptureBackend, chosen: ChosenBackend) -> InputSinkFactory {
    Box::new(move || {
        let backend = input_backend(requested, chosen.get());
        #[cfg(target_os = "linux")]
        match backend {
            InputBackend::Portal => {
                let sink = PortalSink::new()?;
                tracing::info!("input: RemoteDesktop portal");
                return Ok(Box::new(sink) as Box<dyn InputSink>);
            }
            InputBackend::Wlr => {
                let sink = WlrSink::new()?;
                tracing::info!("input: wlroots virtual pointer and keyboard");
                return Ok(Box::new(sink) as Box<dyn InputSink>);
            }
            InputBackend::WlrElseEnigo if WlrSink::available() => match WlrSink::new() {
                Ok(sink) => {
                    tracing::info!("input: wlroots virtual pointer and keyboard");
                    return Ok(Box::new(sink) as Box<dyn InputSink>);
                }
                Err(err) => {
                    let error = &err as &dyn std::error::Error;
                    tracing::info!(error, "no wlroots input here; trying enigo");
                }
            },
            InputBackend::WlrElseEnigo | InputBackend::Enigo => {}
        }
        #[cfg(not(target_os = "linux"))]
        let _ = backend;
        Ok(Box::new(EnigoSink::new()?) as Box<dyn InputSink>)
    })
}

/// Why a view-only agent has no input, for its log: the capturer's own
/// backend takes none, and input does not switch to another.
pub(crate) fn explain(err: &InputError) -> &'static str {
    #[cfg(target_os = "linux")]
    if matches!(err, InputError::Portal(_) | InputError::Wlr(_)) {
        return "the capture backend's input is unavailable; input stays off \
                (never another backend's): viewers can watch but not control";
    }
    let _ = err;
    "input is unavailable: viewers can watch but not control"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_follows_the_backend_the_capturer_chose_and_never_another() {
        use CaptureBackend as C;
        // `auto` settled on the portal: its input, or none, also after
        // the session ended (no enigo or wlroots fallback).
        assert_eq!(
            input_backend(C::Auto, Some(C::Portal)),
            InputBackend::Portal
        );
        assert_eq!(input_backend(C::Auto, Some(C::Wlr)), InputBackend::Wlr);
        assert_eq!(input_backend(C::Auto, Some(C::X11)), InputBackend::Enigo);
        assert_eq!(input_backend(C::Auto, Some(C::Xcap)), InputBackend::Enigo);
        assert_eq!(input_backend(C::Portal, None), InputBackend::Portal);
        assert_eq!(input_backend(C::Auto, None), InputBackend::WlrElseEnigo);
    }

    #[test]
    fn the_capture_factory_tells_the_input_side_which_backend_it_chose() {
        let chosen = ChosenBackend::default();
        assert_eq!(chosen.get(), None);
        chosen.clone().set(CaptureBackend::Portal);
        assert_eq!(chosen.get(), Some(CaptureBackend::Portal));
    }
}
