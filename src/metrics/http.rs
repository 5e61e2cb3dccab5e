//! The HTTP endpoint on `[metrics] listen`: `/metrics`, `/healthz`,
//! `/readyz`, the status page at `/`, and `POST /flood/reset`.
//!
//! The reset is the one request that changes state: it is off unless
//! `[metrics] reset_token` is set, and then it needs the token, as
//! `Authorization: Bearer TOKEN` or (from the status page's form) a `token`
//! form field.
//!
//! One plain thread with a small blocking server: scrapes and health checks
//! are a few requests a second, and nothing here may compete with the scan
//! workers for the async runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server};

use super::Sources;

/// The endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address is taken or not valid.
    #[error("metrics.listen = {addr:?}: cannot listen: {message}")]
    Bind {
        /// The configured address.
        addr: String,
        /// What the system said.
        message: String,
    },
    /// The server thread could not be started.
    #[error("starting the metrics thread: {0}")]
    Thread(std::io::Error),
}

/// A running endpoint; stops when dropped.
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MetricsServer {
    /// Listens on `addr` and serves from `sources` on a thread of its own.
    pub fn start(addr: &str, sources: Sources) -> Result<MetricsServer, HttpError> {
        let server = Server::http(addr).map_err(|e| HttpError::Bind {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| HttpError::Bind {
                addr: addr.to_string(),
                message: "not an IP address".into(),
            })?;
        let server = Arc::new(server);
        let thread = {
            let server = server.clone();
            std::thread::Builder::new()
                .name("kestrel-metrics".into())
                .spawn(move || {
                    for request in server.incoming_requests() {
                        respond(request, &sources);
                    }
                })
                .map_err(HttpError::Thread)?
        };
        tracing::info!(addr = %local, "metrics, health and status page listening");
        Ok(MetricsServer {
            server,
            addr: local,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port the system chose for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn text(status: u16, body: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body.into())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
        .with_header(header("Cache-Control", "no-store"))
}

/// Whether the instance can take traffic: a rule set that runs something
/// and partitions to consume; otherwise why not.
pub fn readiness(sources: &Sources) -> Result<(), String> {
    let engine = sources.rules.current();
    let runnable = engine
        .rule_set()
        .rules
        .iter()
        .filter(|r| r.status != crate::rules::Status::Disabled)
        .count();
    if runnable == 0 {
        return Err("no rules loaded".into());
    }
    if sources.counters.observed.assigned() == 0 {
        return Err("no partitions assigned".into());
    }
    Ok(())
}

/// What the status page shows, read now from where it is kept.
pub fn status_snapshot(sources: &Sources) -> crate::status::Snapshot {
    use std::sync::atomic::Ordering;
    let c = &sources.counters;
    let flood = sources.rules.flood();
    crate::status::Snapshot {
        version: super::VERSION,
        engine: sources.rules.current(),
        rules_dir: sources.rules.dir().to_path_buf(),
        ready: readiness(sources),
        phase: c.phase.get(),
        posts_consumed: c.posts_consumed.load(Ordering::Relaxed),
        dead_letters: c.bad_posts_total(),
        in_flight: c.in_flight.load(Ordering::Relaxed),
        partitions: c.observed.assigned(),
        alerts: c.observed.alerts(),
        lag: c.observed.lag(),
        demotions: flood.demotions(),
        flood: flood.config().clone(),
        history: sources.rules.history(),
        reset_enabled: sources.reset_token.is_some(),
    }
}

/// Whether the reset request carries the configured token: 401 or 403 when
/// not, with why.
fn authorize_reset(
    request: &mut Request,
    sources: &Sources,
) -> Result<(), Response<std::io::Cursor<Vec<u8>>>> {
    let Some(want) = sources.reset_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(text(
            403,
            "the flood reset endpoint is off: set [metrics] reset_token to turn it on (or send SIGUSR1)\n",
        ));
    };
    let bearer = request.headers().iter().find_map(|h| {
        h.field
            .equiv("Authorization")
            .then(|| h.value.as_str().strip_prefix("Bearer ").map(str::to_string))
            .flatten()
    });
    let given = match bearer {
        Some(t) => Some(t),
        None if is_form(request) => {
            use std::io::Read;
            let mut body = String::new();
            let _ = request.as_reader().take(4096).read_to_string(&mut body);
            query_param(&body, "token")
        }
        None => None,
    };
    match given {
        Some(t) if same_secret(t.trim().as_bytes(), want.as_bytes()) => Ok(()),
        _ => Err(text(401, "a flood reset needs the reset token\n")
            .with_header(header("WWW-Authenticate", "Bearer realm=\"kestrel\""))),
    }
}

/// Compares without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_form(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Content-Type")
            && h.value
                .as_str()
                .starts_with("application/x-www-form-urlencoded")
    })
}

fn respond(mut request: Request, sources: &Sources) {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let method = request.method().clone();
    let response = match (&method, path) {
        (Method::Get | Method::Head, "/metrics") => Response::from_string(super::render(sources))
            .with_header(header("Content-Type", &super::content_type())),
        (Method::Get | Method::Head, "/healthz") => text(200, "ok\n"),
        (Method::Get | Method::Head, "/readyz") => match readiness(sources) {
            Ok(()) => text(200, "ready\n"),
            Err(why) => text(503, format!("not ready: {why}\n")),
        },
        (Method::Get | Method::Head, "/") => {
            Response::from_string(crate::status::render(&status_snapshot(sources)))
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Cache-Control", "no-store"))
                .with_header(header(
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                ))
        }
        (Method::Post, "/flood/reset") => match authorize_reset(&mut request, sources) {
            Err(refused) => {
                tracing::warn!(status = refused.status_code().0, "flood reset refused");
                refused
            }
            Ok(()) => {
                let rule = query_param(query, "rule");
                let lifted = sources.rules.flood().reset(rule.as_deref());
                if is_form(&request) {
                    // The status page's button: back to the page.
                    text(303, "").with_header(header("Location", "/"))
                } else if lifted.is_empty() {
                    text(200, "no demotion to reset\n")
                } else {
                    text(200, format!("reset: {}\n", lifted.join(" ")))
                }
            }
        },
        (_, "/metrics" | "/healthz" | "/readyz" | "/" | "/flood/reset") => {
            text(405, "method not allowed\n")
        }
        _ => text(404, "not found\n"),
    };
    let _ = request.respond(response);
}

/// The value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("a=1&rule=fin.x%2Dy", "rule").as_deref(),
            Some("fin.x-y")
        );
        assert_eq!(query_param("rule=a+b", "rule").as_deref(), Some("a b"));
        assert_eq!(query_param("x=1", "rule"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
