//! A local OpenAI-compatible embeddings server for tests: it answers `POST /v1/embeddings` with
//! the precomputed vectors of the sample queries, and can be made slow or failing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Default)]
struct State {
    delay_ms: AtomicU64,
    /// Non-zero: answer every request with this status.
    fail_status: AtomicU64,
    requests: AtomicUsize,
}

pub struct FakeEmbeddings {
    pub url: String,
    state: Arc<State>,
}

impl FakeEmbeddings {
    /// Serves on a free loopback port until the process ends.
    pub fn start() -> FakeEmbeddings {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake embeddings server");
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, &state);
                });
            }
        });
        FakeEmbeddings { url, state }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// 0 restores normal answers.
    pub fn set_fail_status(&self, status: u16) {
        self.state
            .fail_status
            .store(status as u64, Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn answer(stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut auth = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    state.requests.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(state.delay_ms.load(Ordering::SeqCst)));
    let (status, reply) = respond(&request_line, auth.as_deref(), &body, state);
    let reply = reply.to_string();
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    out.flush()
}

fn respond(request_line: &str, auth: Option<&str>, body: &[u8], state: &State) -> (u16, Value) {
    let error = |status: u16, m: &str| {
        (
            status,
            json!({"error": {"message": m, "type": "invalid_request_error"}}),
        )
    };
    let forced = state.fail_status.load(Ordering::SeqCst);
    if forced != 0 {
        return error(forced as u16, "the fake provider was told to fail");
    }
    if !request_line.starts_with("POST ") || !request_line.contains("/v1/embeddings") {
        return error(404, "only POST /v1/embeddings");
    }
    if auth.is_none_or(|a| !a.starts_with("Bearer ")) {
        return error(401, "missing bearer key");
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(400, "body is not JSON");
    };
    // OpenAI's `input`: one string, or a list of them.
    let texts: Vec<&str> = match &req["input"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(items) => match items.iter().map(Value::as_str).collect() {
            Some(texts) => texts,
            None => return error(400, "input must be strings"),
        },
        _ => return error(400, "input must be a string or a list of strings"),
    };
    let mut data = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        match crate::data::movies()
            .queries
            .iter()
            .find(|(t, _)| t == text)
        {
            Some((_, v)) => {
                data.push(json!({"object": "embedding", "index": index, "embedding": v}))
            }
            None => return error(400, "the fake provider only knows the sample queries"),
        }
    }
    (
        200,
        json!({
            "object": "list",
            "data": data,
            "model": req["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}
        }),
    )
}
