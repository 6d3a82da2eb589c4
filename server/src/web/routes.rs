//! What each HTTP request gets: the page and its script and style
//! (embedded in the binary), `/info`, and the WebSocket upgrade at `/ws`
//! for the page's own origin only. Every response carries the headers that
//! keep the page from being framed, sniffed, cached or given a referrer.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use lookout_protocol::{HEADER_LEN, MAX_CONTROL_LEN};

use super::UpgradeSlot;
use crate::session::Shared;

/// The page: no inline script or style, so the CSP can forbid them.
const INDEX_HTML: &str = include_str!("page/index.html");
/// The page's scripts, by path, in the order the page loads them (each
/// named for what it owns; they share the page's global scope).
const SCRIPTS: [(&str, &str); 6] = [
    ("/page.js", include_str!("page/page.js")),
    ("/session.js", include_str!("page/session.js")),
    ("/canvas.js", include_str!("page/canvas.js")),
    ("/input.js", include_str!("page/input.js")),
    ("/status.js", include_str!("page/status.js")),
    ("/signin.js", include_str!("page/signin.js")),
];
const APP_CSS: &str = include_str!("page/app.css");

/// Nothing but the agent's own script, style and WebSocket; decoded frames
/// come in as blobs.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'none'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// The largest WebSocket message (and frame) taken from a browser: one
/// `HC` frame at the protocol's limit. A browser never sends `HT`.
pub(crate) const MAX_MESSAGE: usize = HEADER_LEN + MAX_CONTROL_LEN as usize;

/// The most bytes a browser connection may have waiting to be written:
/// room for one large frame (a 4K picture at a high quality is a few MiB)
/// and tungstenite's own write buffer. A frame larger than this ends the
/// connection; a browser asks for its canvas's size, far below.
pub(crate) const MAX_WRITE_BUFFER: usize = (16 << 20) + (128 << 10);

type Body = Full<Bytes>;

/// The response to `req`. A WebSocket upgrade it accepts is left in
/// `upgrade` for the connection's task.
pub(super) fn respond<B>(
    mut req: Request<B>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
    upgrade: &UpgradeSlot,
) -> Response<Body> {
    let asset = |body: &'static str, kind: &'static str| {
        reply(StatusCode::OK, Bytes::from_static(body.as_bytes()), kind)
    };
    let known = ["/", "/index.html", "/app.css", "/info", "/ws"];
    let path = req.uri().path();
    let script = SCRIPTS
        .iter()
        .find(|(at, _)| *at == path)
        .map(|(_, js)| *js);
    if !known.contains(&path) && script.is_none() {
        return reply(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"not found\n"),
            TEXT,
        );
    }
    if req.method() != Method::GET {
        let mut res = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"method not allowed\n"),
            TEXT,
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    if let Some(js) = script {
        return asset(js, "text/javascript; charset=utf-8");
    }
    match path {
        "/" | "/index.html" => asset(INDEX_HTML, "text/html; charset=utf-8"),
        "/app.css" => asset(APP_CSS, "text/css; charset=utf-8"),
        "/info" => match &shared.web {
            Some(web) => reply(StatusCode::OK, web.info.clone(), "application/json"),
            None => reply(StatusCode::NOT_FOUND, Bytes::new(), TEXT),
        },
        _ => websocket(&mut req, peer, upgrade),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// `GET /ws`: the upgrade, for the page's own origin only.
fn websocket<B>(req: &mut Request<B>, peer: SocketAddr, upgrade: &UpgradeSlot) -> Response<Body> {
    if let Err(origin) = same_origin(req.headers()) {
        tracing::warn!(
            %peer,
            role = "none",
            outcome = "refused",
            reason = "WebSocket from a foreign origin",
            // `?`: quoted and escaped, it came from the network.
            origin = ?origin,
            "connection"
        );
        return reply(
            StatusCode::FORBIDDEN,
            Bytes::from_static(b"forbidden\n"),
            TEXT,
        );
    }
    if !hyper_tungstenite::is_upgrade_request(req) {
        return reply(
            StatusCode::BAD_REQUEST,
            Bytes::from_static(b"a WebSocket upgrade is expected here\n"),
            TEXT,
        );
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        // tungstenite's default is no limit: a peer that sends pings and
        // never reads would have their pongs pile up in memory. Past this,
        // writing fails and the connection ends.
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    match hyper_tungstenite::upgrade(req, Some(config)) {
        Ok((res, ws)) => {
            *upgrade.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((ws, tokio::time::Instant::now()));
            let (parts, body) = res.into_parts();
            let mut res = Response::from_parts(parts, body);
            guard(res.headers_mut());
            res
        }
        Err(err) => reply(
            StatusCode::BAD_REQUEST,
            Bytes::from(format!("bad WebSocket request: {err}\n")),
            TEXT,
        ),
    }
}

/// Whether `Origin` is `https://` + `Host`, the page's own origin; else
/// the origin given (empty when there is none), for the log.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let origin = text(header::ORIGIN).unwrap_or_default();
    match text(header::HOST) {
        Some(host) if !host.is_empty() && origin == format!("https://{host}") => Ok(()),
        _ => Err(origin),
    }
}

fn reply(status: StatusCode, body: Bytes, kind: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    guard(res.headers_mut());
    res
}

/// The headers every response carries.
fn guard(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_the_pages_own_https_origin_may_open_the_websocket() {
        let own = headers(&[("host", "agent:6868"), ("origin", "https://agent:6868")]);
        assert_eq!(same_origin(&own), Ok(()));
        for (host, origin) in [
            ("agent:6868", "https://evil.example"),
            ("agent:6868", "http://agent:6868"),
            ("agent:6868", "https://agent:6869"),
            ("agent:6868", "null"),
            ("", "https://"),
        ] {
            let h = headers(&[("host", host), ("origin", origin)]);
            assert_eq!(same_origin(&h), Err(origin.to_owned()), "{host} {origin}");
        }
        assert!(same_origin(&headers(&[("host", "agent:6868")])).is_err());
    }

    #[test]
    fn the_page_script_and_style_stay_small_and_local() {
        let scripts: usize = SCRIPTS.iter().map(|(_, js)| js.len()).sum();
        assert!(scripts + APP_CSS.len() < 100 * 1024);
        let texts = SCRIPTS.iter().map(|(_, js)| *js);
        for text in texts.chain([INDEX_HTML, APP_CSS]) {
            assert!(!text.contains("http://") && !text.contains("//cdn"));
        }
        // The page loads every script, in the table's order.
        let mut from = 0;
        for (path, _) in SCRIPTS {
            let tag = format!(r#"<script src="{path}" defer></script>"#);
            let at = INDEX_HTML[from..].find(&tag).expect(path);
            from += at + tag.len();
        }
        assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("style="));
    }
}
