//! The native HTTP host: hyper on tokio, a thin translation to and from [`crate::http`], and the
//! limits that keep one client from taking the server: a cap on connections (idle ones are
//! closed first, as nginx does), a cap on requests in flight, timeouts on slow heads and bodies,
//! and every request's head judged before its body is read.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

use crate::api::error::ApiError;
use crate::api::{Handler, MAX_BODY_BYTES};
use crate::http::{Method, Request, Response};

use super::embed_host::NativeEmbedHost;
use super::store::AnyStore;

/// Answers requests the API does not (the demo page), before the handler's 404.
pub type Fallback = Arc<dyn Fn(&Request) -> Option<Response> + Send + Sync>;

/// The handler as the native host runs it. Concrete types, so the futures are known to be Send.
pub type NativeHandler = Handler<AnyStore, NativeEmbedHost>;

/// The server's caps (`vecgate serve --max-connections`, `--max-in-flight`, `--client-timeout-ms`).
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Open connections; at the cap the oldest idle one is closed, else the new one is refused.
    pub max_connections: usize,
    /// Requests being answered; beyond it, 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// A client gets this long to send a request's head, and again its body.
    pub client_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish.
    pub drain: Duration,
}

/// A refused request or connection may retry after this many seconds.
const RETRY_AFTER_S: u64 = 1;
/// The body of a request refused on its head is read and thrown away for at most this long, so
/// the client sees the answer rather than a reset connection.
const DISCARD_WITHIN: Duration = Duration::from_secs(5);

/// Serves `handler` on `listener` until `shutdown` resolves; then stops accepting and waits up to
/// `limits.drain` for the requests in flight (each connection finishes its request, then closes).
/// `extra` answers requests the API does not (the demo page), before the handler's 404.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<NativeHandler>,
    extra: Fallback,
    shutdown: impl std::future::Future<Output = ()>,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let timeout = Duration::from_millis(handler.config.request_timeout_ms);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Connections::default());
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            // Out of file descriptors and the like: wait and go on rather than exit.
            Err(e) => {
                eprintln!("vecgate: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = connections.open(limits.max_connections, &handler) else {
            handler.metrics.record_shed("connection_refused");
            tokio::spawn(refuse_connection(stream));
            continue;
        };
        let handler = handler.clone();
        let extra = extra.clone();
        let in_flight = in_flight.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let busy = slot.busy.clone();
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let handler = handler.clone();
                let extra = extra.clone();
                let in_flight = in_flight.clone();
                let busy = busy.clone();
                async move {
                    busy.store(true, Ordering::SeqCst);
                    let response = match in_flight.try_acquire() {
                        Ok(_permit) => {
                            let call = Call {
                                handler: &handler,
                                extra: &*extra,
                                peer: peer.ip(),
                                timeout,
                                client_timeout: limits.client_timeout,
                            };
                            call.answer(req).await
                        }
                        Err(_) => {
                            handler.metrics.record_shed("request_refused");
                            to_hyper(overloaded("too many requests in flight on this server"))
                        }
                    };
                    busy.store(false, Ordering::SeqCst);
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.client_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = watcher.watch(connection) => {}
                () = slot.evict.notified() => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "vecgate: WARNING connections still busy after {:?} (of {open} open at shutdown); \
             closing them",
            limits.drain
        );
    }
    Ok(())
}

/// The open connections, oldest first, and whether each is answering a request.
#[derive(Default)]
struct Connections {
    open: Mutex<(u64, BTreeMap<u64, Arc<ConnectionState>>)>,
}

#[derive(Default)]
struct ConnectionState {
    /// A request's head has arrived and it is being answered.
    busy: Arc<AtomicBool>,
    /// Closes the connection (it is idle, and the server is at its cap).
    evict: Notify,
}

/// A connection's place among the open ones; leaving it frees the place.
struct Slot {
    id: u64,
    state: Arc<ConnectionState>,
    connections: Arc<Connections>,
}

impl std::ops::Deref for Slot {
    type Target = ConnectionState;
    fn deref(&self) -> &ConnectionState {
        &self.state
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.1.remove(&self.id);
        }
    }
}

impl Connections {
    /// A place for a new connection. At `max`, the oldest idle connection (one sending its head
    /// slowly, or kept alive between requests) is closed to make room; `None` when every one is
    /// answering a request.
    fn open(self: &Arc<Self>, max: usize, handler: &NativeHandler) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        if open.1.len() >= max.max(1) {
            let idle = open
                .1
                .iter()
                .find(|(_, c)| !c.busy.load(Ordering::SeqCst))
                .map(|(id, _)| *id)?;
            if let Some(closed) = open.1.remove(&idle) {
                closed.evict.notify_one();
                handler.metrics.record_shed("idle_connection_closed");
            }
        }
        open.0 += 1;
        let id = open.0;
        let state = Arc::new(ConnectionState::default());
        open.1.insert(id, state.clone());
        Some(Slot {
            id,
            state,
            connections: self.clone(),
        })
    }
}

/// Answers a connection over the cap with 503 and closes it, reading (and dropping) what the
/// client sent first so that the answer isn't lost to a reset.
async fn refuse_connection(mut stream: TcpStream) {
    let response = to_http1_bytes(&overloaded("too many connections to this server"));
    if stream.write_all(&response).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// A whole HTTP/1.1 response, for a connection hyper never sees.
fn to_http1_bytes(response: &Response) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} Service Unavailable\r\nconnection: close\r\ncontent-length: {}\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

fn overloaded(message: &str) -> Response {
    ApiError {
        retry_after: Some(RETRY_AFTER_S),
        ..ApiError::new(503, "overloaded", message)
    }
    .into_response()
}

/// One request, and what answering it needs.
struct Call<'a> {
    handler: &'a NativeHandler,
    extra: &'a (dyn Fn(&Request) -> Option<Response> + Send + Sync),
    peer: std::net::IpAddr,
    timeout: Duration,
    client_timeout: Duration,
}

impl Call<'_> {
    async fn answer(&self, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let mut request = request_head(&parts);
        request.remote = Some(self.peer);
        if let Some(page) = (self.extra)(&request) {
            return to_hyper(page);
        }
        let limit = match self.handler.admit(&request).await {
            Ok(limit) => limit,
            Err(refused) => {
                discard(body, request.header("expect"));
                return to_hyper(refused);
            }
        };
        request.body = match self.read_body(body, limit).await {
            Ok(bytes) => bytes,
            Err(e) => return to_hyper(e.into_response()),
        };
        let response = match tokio::time::timeout(self.timeout, self.handler.handle(request)).await
        {
            Ok(r) => r,
            Err(_) => ApiError::new(
                503,
                "timeout",
                "the request took longer than the configured timeout",
            )
            .into_response(),
        };
        to_hyper(response)
    }

    async fn read_body(&self, body: Incoming, limit: usize) -> Result<Vec<u8>, ApiError> {
        let collected =
            tokio::time::timeout(self.client_timeout, Limited::new(body, limit).collect())
                .await
                .map_err(|_| {
                    ApiError::new(
                        408,
                        "request_timeout",
                        "the request body arrived too slowly",
                    )
                })?
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        ApiError::new(
                            413,
                            "payload_too_large",
                            format!("request body over {limit} bytes"),
                        )
                    } else {
                        ApiError::bad_request(format!("could not read the request body: {e}"))
                    }
                })?;
        Ok(collected.to_bytes().to_vec())
    }
}

/// The request without its body.
fn request_head(parts: &hyper::http::request::Parts) -> Request {
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::new(Method::parse(parts.method.as_str()), path_and_query);
    request.headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    request
}

/// Throws away the body of a request answered on its head, in the background and bounded in
/// time and size, so the client reads the answer instead of a reset. A client that asked
/// `Expect: 100-continue` never got the go-ahead and sends nothing: the body is just dropped.
fn discard(body: Incoming, expect: Option<&str>) {
    if expect.is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        return;
    }
    tokio::spawn(async move {
        let mut body = body;
        let mut seen = 0usize;
        let _ = tokio::time::timeout(DISCARD_WITHIN, async {
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, Bytes::len);
                if seen > MAX_BODY_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

fn to_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (k, v) in &response.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            let mut r = hyper::Response::new(Full::new(Bytes::from_static(
                br#"{"error":{"code":"internal","message":"invalid response header"}}"#,
            )));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}
