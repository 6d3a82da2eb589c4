//! The browser viewer, on the agent's own TLS port (§5 of the protocol):
//! a TLS connection whose ALPN is `http/1.1` is served HTTP/1.1 by hyper;
//! `GET /` is the page ([`routes`]), and `GET /ws` becomes a WebSocket that
//! [`bridge`] turns into the byte stream the native session code already
//! serves (`binding: none`, since a page cannot read the TLS exporter).
//!
//! ```text
//!  TLS (ALPN http/1.1) ─▶ hyper http/1.1 ─▶ GET / , /*.js, /app.css, /info
//!   one place among          │                (page: embedded, strict CSP)
//!   MAX_HTTP_CONNECTIONS     └─ GET /ws (same Origin) ─▶ WebSocket ─▶ bridge ─▶ session::serve_stream
//!   until `welcome`                                       one message = one frame
//! ```
//!
//! Bounds: a connection that has not become a viewer holds one of
//! [`MAX_HTTP_CONNECTIONS`] places, at most [`places::MAX_HTTP_PER_ADDRESS`]
//! of them per address (beyond them, the connection idle longest is
//! displaced: [`places`]), until its WebSocket's token handshake ends;
//! request heads are at most [`MAX_REQUEST_HEAD`] bytes and must arrive
//! within [`HEAD_TIMEOUT`].
//!
//! Deadlines, none of which restarts another: TLS and HTTP together end at
//! most [`HTTP_LIFETIME`] after the TCP accept (the browser opens a new
//! connection when it needs one); the sign-in, from the WebSocket upgrade
//! request to `welcome`, gets the handshake timeout (10 s by default),
//! counted from the moment the upgrade request was answered. The
//! contract's "TLS handshake and auth exchange within 10 s" is read per
//! transport: the TLS handshake within 10 s of the accept (as for a native
//! viewer), the auth exchange within 10 s of the upgrade. The page is
//! loaded over the same kind of connection before it opens the WebSocket,
//! so one deadline from the accept would leave a slow page load no time to
//! sign in; it is never extended by what comes before.

mod bridge;
mod places;
mod routes;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use lookout_protocol::Fingerprint;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::session::{Place, Shared, UnsentLimit};
use places::{HttpPlace, HttpPlaces};

/// The ALPN protocol name that selects the browser transport.
pub(crate) const ALPN_HTTP: &[u8] = b"http/1.1";

/// HTTP connections (TLS done, no WebSocket session yet) served at once.
/// A browser opens a handful; beyond this a flood could only hold memory
/// and sockets, so a new one is closed instead.
pub(crate) const MAX_HTTP_CONNECTIONS: usize = 32;

/// How long a request head may take to arrive (also the idle time allowed
/// between two requests on a kept-alive connection).
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest an HTTP connection is served, counted from its TCP accept
/// (TLS included), before it is closed (a WebSocket upgrade ends the HTTP
/// part sooner).
pub(crate) const HTTP_LIFETIME: Duration = Duration::from_secs(30);

/// The largest request head read (hyper's buffer, whose minimum is 8 KiB);
/// the agent's requests have no body.
pub(crate) const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The browser transport's state, shared by its connections.
#[derive(Debug)]
pub(crate) struct Web {
    http_places: Arc<HttpPlaces>,
    /// `/info`: what the page shows before and besides the session.
    info: Bytes,
}

impl Web {
    /// The transport of an agent whose certificate has `fingerprint`.
    pub(crate) fn new(fingerprint: Fingerprint) -> Self {
        let info = serde_json::json!({ "fingerprint": fingerprint.to_string() });
        Self {
            http_places: HttpPlaces::new(MAX_HTTP_CONNECTIONS),
            info: Bytes::from(info.to_string()),
        }
    }
}

/// A WebSocket's place until its token handshake ends: the HTTP place its
/// connection held (nothing displaces it once upgraded; its deadline
/// bounds it).
struct WebPlace {
    _http: Arc<HttpPlace>,
    never: CancellationToken,
    /// Alive until the token handshake ends: the bridge counts a bad
    /// message against the address only while it is.
    signing_in: Arc<()>,
}

impl Place for WebPlace {
    fn evicted(&self) -> &CancellationToken {
        &self.never
    }
}

/// The WebSocket a request asked for, and when its upgrade was answered
/// (the sign-in deadline counts from then), handed from the request
/// handler to the connection's task once hyper lets go of the stream.
type UpgradeSlot = Arc<Mutex<Option<(hyper_tungstenite::HyperWebsocket, tokio::time::Instant)>>>;

/// Serves one TLS connection that chose `http/1.1`: HTTP until it ends or
/// upgrades, then the WebSocket session.
pub(crate) async fn serve(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    unsent: Option<UnsentLimit>,
    accepted: tokio::time::Instant,
) {
    let Some(web) = shared.web.as_ref() else {
        return;
    };
    let Some(place) = web.http_places.take(peer.ip(), Instant::now()) else {
        tracing::warn!(%peer, role = "none", outcome = "refused", reason = "too many HTTP connections, all upgraded", "connection");
        return;
    };
    let place = Arc::new(place);
    let started = Instant::now();
    let upgrade = UpgradeSlot::default();
    let handler = {
        let (shared, upgrade) = (Arc::clone(&shared), Arc::clone(&upgrade));
        let place = Arc::clone(&place);
        hyper::service::service_fn(move |req| {
            place.active(Instant::now());
            let response = routes::respond(req, &shared, peer, &upgrade);
            if upgrade
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
            {
                place.upgraded();
            }
            async move { Ok::<_, std::convert::Infallible>(response) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), handler)
        .with_upgrades();
    let served = tokio::select! {
        () = cancel.cancelled() => return,
        () = place.evicted.cancelled() => {
            return tracing::debug!(%peer, "idle HTTP connection displaced by a newer one");
        }
        served = tokio::time::timeout_at(accepted + HTTP_LIFETIME, conn) => served,
    };
    if let Ok(Err(err)) = served {
        tracing::debug!(%peer, error = %err, "HTTP connection ended");
    }
    let ws = upgrade
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some((ws, asked)) = ws else {
        return;
    };
    // Displaced between answering the upgrade and being marked upgraded:
    // its place is gone, so it may not become a viewer on it.
    if place.evicted.is_cancelled() {
        return tracing::debug!(%peer, "HTTP connection displaced while it upgraded");
    }
    let deadline = asked + shared.timeouts.handshake;
    let ws = match tokio::time::timeout_at(deadline, ws).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => return tracing::debug!(%peer, error = %err, "WebSocket upgrade failed"),
        Err(_) => return,
    };
    let place = WebPlace {
        _http: place,
        never: CancellationToken::new(),
        signing_in: Arc::new(()),
    };
    bridge::run(ws, peer, shared, place, cancel, deadline, started, unsent).await;
}
