//! The task that owns one portal session on the portal runtime: sets it
//! up, reports it, carries input events to it, and watches its `Closed`
//! signal (the user stopped sharing from the desktop): the session is
//! then marked ended, so the capturer reports the display gone instead of
//! showing the last picture for ever.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

use super::{CALL_TIMEOUT, InputEvent, PortalError, PortalStream, Request, TokenStore, session};

pub(super) type Ready = Result<(Vec<PortalStream>, OwnedFd, bool), PortalError>;

/// Sets the session up, reports it, then carries input events until the
/// [`super::Portal`] is dropped or the session is closed, and closes it.
pub(super) async fn run(
    store: Option<TokenStore>,
    timeout: Duration,
    ready: std::sync::mpsc::SyncSender<Ready>,
    mut requests: mpsc::Receiver<Request>,
    ended: Arc<AtomicBool>,
) {
    let token = store.as_ref().and_then(TokenStore::load);
    if token.is_some() {
        tracing::info!("portal: restoring the session the user allowed before");
    }
    let opened = match tokio::time::timeout(timeout, session::open(token.as_deref())).await {
        Ok(Ok(opened)) => opened,
        Ok(Err(err)) => {
            let _ = ready.send(Err(err));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err(PortalError::Timeout(timeout)));
            return;
        }
    };
    save_token(store.as_ref(), opened.restore_token.as_deref());
    // Subscribed before the session is handed out: a close right after
    // the start is not missed.
    let closed = opened.held.closed().await;
    let takes_input = opened.held.takes_input();
    if ready
        .send(Ok((opened.streams, opened.pipewire, takes_input)))
        .is_err()
    {
        opened.held.close().await;
        return;
    }
    let held = &opened.held;
    // The user's stop is final, and the saved token goes with it: a new
    // session (after a restart too) asks in the dialog again.
    let stop = || {
        super::CONSENT.stopped();
        if let Some(store) = &store {
            store.forget();
        }
    };
    serve(&mut requests, closed, &ended, stop, |event| {
        held.send(event)
    })
    .await;
    let _ = tokio::time::timeout(CALL_TIMEOUT, opened.held.close()).await;
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// The [`super::Portal`] was dropped.
    Dropped,
    /// The portal's `Closed` signal: the user stopped sharing.
    Closed,
    /// The D-Bus connection went.
    Gone,
}

/// Carries each request to `send` (bounded by [`CALL_TIMEOUT`]) and
/// answers it, until the requests end or `closed` yields (or ends: the
/// D-Bus connection went), which marks the session `ended`; on the
/// `Closed` signal `stop` runs first.
pub(super) async fn serve<F, Fut>(
    requests: &mut mpsc::Receiver<Request>,
    mut closed: BoxStream<'_, ()>,
    ended: &AtomicBool,
    stop: impl FnOnce(),
    mut send: F,
) -> Served
where
    F: FnMut(InputEvent) -> Fut,
    Fut: Future<Output = Result<(), PortalError>>,
{
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return Served::Dropped };
                let result = match tokio::time::timeout(CALL_TIMEOUT, send(request.event)).await {
                    Ok(result) => result,
                    Err(_) => Err(PortalError::Timeout(CALL_TIMEOUT)),
                };
                let _ = request.reply.send(result);
            }
            signal = closed.next() => {
                if signal.is_none() {
                    ended.store(true, Ordering::SeqCst);
                    tracing::warn!("portal: the D-Bus connection went: the picture ends here");
                    return Served::Gone;
                }
                stop();
                ended.store(true, Ordering::SeqCst);
                return Served::Closed;
            }
        }
    }
}

fn save_token(store: Option<&TokenStore>, token: Option<&str>) {
    let (Some(store), Some(token)) = (store, token) else {
        tracing::info!("portal: no restore token given; the dialog will show at the next start");
        return;
    };
    match store.save(token) {
        Ok(()) => tracing::info!(
            path = %store.path().display(),
            "portal: saved the restore token; the next start needs no dialog"
        ),
        Err(err) => {
            let error = &err as &dyn std::error::Error;
            tracing::warn!(error, "portal: cannot save the restore token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_closed_from_the_desktop_is_marked_ended_and_stops_serving() {
        let (tx, mut rx) = mpsc::channel(4);
        let (close, on_close) = tokio::sync::oneshot::channel::<()>();
        let closed = futures_util::stream::once(async move {
            let _ = on_close.await;
        })
        .boxed();
        let ended = Arc::new(AtomicBool::new(false));
        let task_ended = Arc::clone(&ended);
        let stopped = Arc::new(AtomicBool::new(false));
        let stopped_first = Arc::clone(&stopped);
        let serving = tokio::spawn(async move {
            // The stop runs before the session shows as ended: a
            // retry in between would open a new one.
            let seen = Arc::clone(&task_ended);
            let stop = move || stopped_first.store(!seen.load(Ordering::SeqCst), Ordering::SeqCst);
            serve(&mut rx, closed, &task_ended, stop, |_| async { Ok(()) }).await
        });
        // Input is carried while the session is open.
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let event = InputEvent::Button {
            code: 0x110,
            pressed: true,
        };
        tx.send(Request { event, reply }).await.unwrap();
        let answered =
            tokio::task::spawn_blocking(move || answer.recv_timeout(Duration::from_secs(10)));
        assert!(matches!(answered.await.unwrap(), Ok(Ok(()))));
        assert!(!ended.load(Ordering::Relaxed));
        // The desktop closes the session: serving ends, marked ended.
        close.send(()).unwrap();
        let served = tokio::time::timeout(Duration::from_secs(10), serving).await;
        let served = served.expect("serving must end with the Closed signal");
        // Told as the user's stop, which the caller makes final.
        assert_eq!(served.unwrap(), Served::Closed);
        assert!(
            stopped.load(Ordering::SeqCst),
            "the stop ran before `ended`"
        );
        assert!(ended.load(Ordering::Relaxed), "the session is marked ended");
        drop(tx);
    }
}
