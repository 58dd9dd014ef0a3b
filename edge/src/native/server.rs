//! The native HTTP host: hyper on tokio, a thin translation to and from [`crate::http`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::api::error::ApiError;
use crate::api::{Handler, MAX_BODY_BYTES};
use crate::http::{Method, Request, Response};

use super::embed_host::NativeEmbedHost;
use super::store::AnyStore;

/// Answers requests the API does not (the demo page), before the handler's 404.
pub type Fallback = Arc<dyn Fn(&Request) -> Option<Response> + Send + Sync>;

/// The handler as the native host runs it. Concrete types, so the futures are known to be Send.
pub type NativeHandler = Handler<AnyStore, NativeEmbedHost>;

/// A slow client gets this long to send its headers, and its body.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves `handler` on `listener` until `shutdown` resolves; then stops accepting and waits up to
/// `drain` for the requests in flight (each connection finishes its request, then closes).
/// `extra` answers requests the API does not (the demo page), before the handler's 404.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<NativeHandler>,
    extra: Fallback,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let timeout = Duration::from_millis(handler.config.request_timeout_ms);
    let graceful = GracefulShutdown::new();
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
        let handler = handler.clone();
        let extra = extra.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let handler = handler.clone();
                let extra = extra.clone();
                async move {
                    Ok::<_, Infallible>(answer(req, peer.ip(), &handler, &*extra, timeout).await)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(CLIENT_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "vecgate: WARNING connections still busy after {drain:?} (of {open} open at shutdown); \
             closing them"
        );
    }
    Ok(())
}

async fn answer(
    req: hyper::Request<Incoming>,
    peer: std::net::IpAddr,
    handler: &NativeHandler,
    extra: &(dyn Fn(&Request) -> Option<Response> + Send + Sync),
    timeout: Duration,
) -> hyper::Response<Full<Bytes>> {
    let response = match read_request(req).await {
        Err(e) => e.into_response(),
        Ok(mut req) => match extra(&req) {
            Some(r) => r,
            None => match tokio::time::timeout(timeout, {
                req.remote = Some(peer);
                handler.handle(req)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => ApiError::new(
                    503,
                    "timeout",
                    "the request took longer than the configured timeout",
                )
                .into_response(),
            },
        },
    };
    to_hyper(response)
}

async fn read_request(req: hyper::Request<Incoming>) -> Result<Request, ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let collected =
        tokio::time::timeout(CLIENT_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect())
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
                    too_large()
                } else {
                    ApiError::bad_request(format!("could not read the request body: {e}"))
                }
            })?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::new(Method::parse(parts.method.as_str()), path_and_query);
    request.headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    request.body = collected.to_bytes().to_vec();
    Ok(request)
}

fn too_large() -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("request body over {MAX_BODY_BYTES} bytes"),
    )
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
