//! The user's answer to the consent dialog, kept for the process: once
//! the dialog was refused (or the portal answered the request with another
//! non-success), no new session is asked for until the agent restarts.
//! Without it the capture thread's retries after a lost display would pop
//! the dialog up again every few seconds. Sharing stopped from the
//! desktop is as final ([`Consent::stopped`]): a new session would come
//! back with the restore token, on GNOME without a dialog, overriding the
//! user who just stopped it.

use std::sync::atomic::{AtomicU8, Ordering};

use super::PortalError;

/// Not answered no (yet).
const OPEN: u8 = 0;
/// Refused in the dialog (or by the portal).
const REFUSED: u8 = 1;
/// Stopped from the desktop.
const STOPPED: u8 = 2;

/// Whether the portal's answer was a final no.
#[derive(Debug)]
pub(super) struct Consent {
    answer: AtomicU8,
}

impl Consent {
    pub(super) const fn new() -> Self {
        Self {
            answer: AtomicU8::new(OPEN),
        }
    }

    /// The user stopped sharing from the desktop: no new session until
    /// the agent restarts. Call it before the session is marked ended, so
    /// no retry in between opens one.
    pub(super) fn stopped(&self) {
        if self.answer.swap(STOPPED, Ordering::SeqCst) != STOPPED {
            tracing::warn!("portal: {}", PortalError::Stopped);
        }
    }

    /// The final no given, if any.
    fn refusal(&self) -> Option<PortalError> {
        match self.answer.load(Ordering::SeqCst) {
            REFUSED => Some(PortalError::Refused),
            STOPPED => Some(PortalError::Stopped),
            _ => None,
        }
    }

    /// Runs `open` (which may show the dialog) unless the answer was
    /// already no; a final no is remembered, and logged this once.
    pub(super) fn ask<T>(
        &self,
        open: impl FnOnce() -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        if let Some(no) = self.refusal() {
            return Err(no);
        }
        let answer = open();
        if let Err(err) = &answer
            && is_final(err)
            && self
                .answer
                .compare_exchange(OPEN, REFUSED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            tracing::error!(
                error = %err,
                "portal: screen sharing was refused; the agent will not ask again until it \
                 restarts (view nothing, steer nothing)"
            );
        }
        answer
    }
}

/// A "no" from the portal itself, the user's or its backend's, as
/// opposed to a failure to reach it (no bus, a timeout): asking again
/// would only show the dialog again.
fn is_final(err: &PortalError) -> bool {
    matches!(
        err,
        PortalError::Refused
            | PortalError::StartFailed
            | PortalError::Portal(ashpd::Error::Response(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_dialog_is_not_asked_again() {
        let consent = Consent::new();
        let first: Result<(), _> = consent.ask(|| Err(PortalError::Refused));
        assert!(matches!(first, Err(PortalError::Refused)));
        let mut asked = false;
        let again: Result<(), _> = consent.ask(|| {
            asked = true;
            Ok(())
        });
        assert!(!asked, "no second dialog after a refusal");
        assert!(matches!(again, Err(PortalError::Refused)));
    }

    #[test]
    fn sharing_stopped_from_the_desktop_is_not_resumed() {
        let consent = Consent::new();
        assert!(consent.ask(|| Ok(())).is_ok());
        consent.stopped();
        let mut asked = false;
        let again: Result<(), _> = consent.ask(|| {
            asked = true;
            Ok(())
        });
        assert!(
            !asked,
            "no new session (a restore token would skip the dialog)"
        );
        assert!(matches!(again, Err(PortalError::Stopped)));
    }

    #[test]
    fn an_other_non_success_answer_is_final_but_a_timeout_is_not() {
        let consent = Consent::new();
        let _: Result<(), _> =
            consent.ask(|| Err(PortalError::Timeout(std::time::Duration::from_secs(1))));
        assert!(
            consent.ask(|| Ok(())).is_ok(),
            "a timeout may be asked again"
        );
        let _: Result<(), _> = consent.ask(|| {
            Err(PortalError::from(ashpd::Error::Response(
                ashpd::desktop::ResponseError::Other,
            )))
        });
        let mut asked = false;
        let _ = consent.ask(|| {
            asked = true;
            Ok(())
        });
        assert!(!asked);
    }
}
