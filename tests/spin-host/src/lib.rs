//! Test infrastructure, not a product runtime: a stand-in for the Spin runtime that runs the
//! exact `vecgate_spin.wasm` we ship, in wasmtime, so the shared API suite can exercise it.
//!
//! It links WASI (P2 and P3), `wasi:http@0.3.0` (outbound requests to loopback only),
//! `spin:postgres/postgres@4.2.0` over tokio-postgres ([`pg`]),
//! `spin:variables/variables@3.0.0` (values given to [`SpinHost::start`]) and
//! `fermyon:spin/llm@2.0.0`'s embeddings with vecgate-embed ([`llm`], the models `spin.toml`
//! allows the component). Like Spin, it instantiates the component afresh for every request;
//! the component is compiled once per process. What it does not prove is listed in
//! `tests/spin-host/README.md`.

pub mod llm;
pub mod pg;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wasmtime::component::{Accessor, Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Bindings of the Spin interfaces (`wit/`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-imports",
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
        with: {
            "spin:postgres/postgres.connection": crate::pg::PgConnection,
            "spin:postgres/postgres.connection-builder": crate::pg::PgConnectionBuilder,
        },
    });
}

use bindings::spin::variables::variables;

/// The state of one request's store.
pub struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: LoopbackOnly,
    variables: Arc<HashMap<String, String>>,
    llm: Arc<llm::Llm>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl variables::Host for State {}

impl<T: Send> variables::HostWithStore<T> for HasSelf<State> {
    /// Spin's rules: names are lower-case letters, digits and `_`; an unknown name is undefined.
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables::Error>> {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(accessor
            .with(|mut a| a.get().variables.get(&name).cloned())
            .ok_or(variables::Error::Undefined(name)))
    }
}

/// Outbound HTTP through wasmtime-wasi-http's client, to loopback hosts only.
struct LoopbackOnly;

impl WasiHttpHooks for LoopbackOnly {
    fn send_request(
        &mut self,
        request: hyper::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _result: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    hyper::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        let allowed = request.uri().host().is_some_and(is_loopback);
        Box::new(async move {
            if !allowed {
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Whether `host` (a name or an address, IPv6 with or without brackets) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The engine and the compiled component, shared by every host in the process.
struct Loaded {
    engine: Engine,
    pre: ServicePre<State>,
    compile_time: Duration,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| load().unwrap_or_else(|e| panic!("load the Spin component: {e:?}")))
}

fn load() -> wasmtime::Result<Loaded> {
    let path = component_path();
    let mut config = wasmtime::Config::new();
    config.wasm_component_model_async(true);
    let engine = Engine::new(&config)?;
    let start = Instant::now();
    let component = Component::from_file(&engine, &path)?;
    let compile_time = start.elapsed();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    bindings::spin::postgres::postgres::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)?;
    variables::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)?;
    bindings::fermyon::spin::llm::add_to_linker::<_, HasSelf<State>>(&mut linker, |s| s)?;
    let pre = ServicePre::new(linker.instantiate_pre(&component)?)?;
    Ok(Loaded {
        engine,
        pre,
        compile_time,
    })
}

/// How long compiling the component took (once per process; compiles it if not yet done).
pub fn compile_time() -> Duration {
    loaded().compile_time
}

/// The component's imports, as `name` strings, e.g. `spin:postgres/postgres@4.2.0`.
pub fn component_imports() -> Vec<String> {
    let loaded = loaded();
    loaded
        .pre
        .instance_pre()
        .component()
        .component_type()
        .imports(&loaded.engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The release settings the component ships with (`[profile.spin]` in the root Cargo.toml).
pub const PROFILE: &str = "spin";

/// The repository root, where `spin.toml` and the workspace are.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The component's name in `spin.toml`.
pub const COMPONENT: &str = "vecgate";

/// The `ai_models` `spin.toml` gives the component (none when the key is absent, as in Spin).
pub fn manifest_ai_models() -> Result<Vec<String>, String> {
    let path = root().join("spin.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: toml::Table = text
        .parse()
        .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
    let Some(models) = manifest
        .get("component")
        .and_then(|c| c.get(COMPONENT))
        .and_then(|c| c.get("ai_models"))
    else {
        return Ok(Vec::new());
    };
    models
        .as_array()
        .and_then(|list| {
            list.iter()
                .map(|m| m.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| format!("[component.{COMPONENT}] ai_models is not a list of strings"))
}

/// Builds `vecgate_spin.wasm` exactly as shipped, once per process, and returns its path.
pub fn component_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "--profile",
                PROFILE,
                "--target",
                "wasm32-wasip2",
            ])
            .args(["-p", "vecgate-spin"])
            .current_dir(&root)
            .status()
            .expect("run cargo build for the Spin component");
        assert!(
            status.success(),
            "cargo build of the Spin component failed (is the wasm32-wasip2 target installed? \
             scripts/install-spin-deps.sh)"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let path = target.join(format!("wasm32-wasip2/{PROFILE}/vecgate_spin.wasm"));
        assert!(path.exists(), "{} missing after build", path.display());
        path
    })
    .clone()
}

/// The component served over HTTP on a free loopback port, with the given Spin variables.
/// Stops on drop.
pub struct SpinHost {
    pub base: String,
    output: MemoryOutputPipe,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the guest may print over the host's lifetime (stdout and stderr together).
const OUTPUT_CAPACITY: usize = 4 * 1024 * 1024;

impl SpinHost {
    /// With the LLM models `spin.toml` allows the component.
    pub fn start(variables: &[(&str, &str)]) -> SpinHost {
        let models = manifest_ai_models().unwrap_or_else(|e| panic!("read ai_models: {e}"));
        let models: Vec<&str> = models.iter().map(String::as_str).collect();
        SpinHost::start_with_ai_models(variables, &models)
    }

    /// With the given Spin variables and the LLM models the component may use.
    pub fn start_with_ai_models(variables: &[(&str, &str)], ai_models: &[&str]) -> SpinHost {
        let loaded = loaded();
        let llm = Arc::new(llm::Llm::new(ai_models));
        let variables: Arc<HashMap<String, String>> = Arc::new(
            variables
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let output = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the Spin host");
        let address = listener.local_addr().expect("local address");
        let guest_output = output.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let variables = variables.clone();
                let llm = llm.clone();
                let output = guest_output.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let guest = Guest {
                            variables: variables.clone(),
                            llm: llm.clone(),
                            output: output.clone(),
                        };
                        async move {
                            Ok::<_, Infallible>(answer(loaded, address, guest, request).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        SpinHost {
            base: format!("http://{address}"),
            output,
            runtime: Some(runtime),
        }
    }

    /// Everything the component printed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.contents()).into_owned()
    }
}

impl Drop for SpinHost {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What one request's store gets from its host.
struct Guest {
    variables: Arc<HashMap<String, String>>,
    llm: Arc<llm::Llm>,
    output: MemoryOutputPipe,
}

async fn answer(
    loaded: &'static Loaded,
    address: SocketAddr,
    guest: Guest,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    match forward(loaded, address, guest, request).await {
        Ok(response) => response,
        Err(e) => {
            let mut response = hyper::Response::new(Full::new(Bytes::from(format!(
                "the Spin host failed: {e:?}"
            ))));
            *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// One request: a fresh store and instance, the guest's `handle`, and its whole response body.
async fn forward(
    loaded: &'static Loaded,
    address: SocketAddr,
    guest: Guest,
    request: hyper::Request<hyper::body::Incoming>,
) -> wasmtime::Result<hyper::Response<Full<Bytes>>> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    // wasi:http requests carry a scheme and an authority, as Spin gives them.
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{address}{path}").parse()?;
    let request = hyper::Request::from_parts(parts, Full::new(body));

    let wasi = WasiCtx::builder()
        .stdout(guest.output.clone())
        .stderr(guest.output)
        .build();
    let mut store = Store::new(
        &loaded.engine,
        State {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: LoopbackOnly,
            variables: guest.variables,
            llm: guest.llm,
        },
    );
    let service = loaded.pre.instantiate_async(&mut store).await?;
    let (request, _io) = wasmtime_wasi_http::p3::Request::from_http(&mut LoopbackOnly, request);
    store
        .run_concurrent(async |accessor| {
            let response = match service.handle(accessor, request).await? {
                Ok(response) => response,
                Err(code) => return Ok(error_response(&code)),
            };
            let response = accessor.with(|mut a| {
                response.into_http(&mut a, async { Ok::<(), wasmtime_wasi_http::Error>(()) })
            })?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(hyper::Response::from_parts(parts, Full::new(body)))
        })
        .await?
}

fn error_response(code: &ErrorCode) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(format!(
        "the component answered with error code {code:?}"
    ))));
    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
