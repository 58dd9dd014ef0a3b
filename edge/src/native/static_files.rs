//! Static files for the demo page: `www/` at `/`, the built npm package (`wasm/pkg/`) at `/pkg/`,
//! the bundled sample candidate set at `/sample/movies.vgcs`, and the local model's two files at
//! `/models/all-minilm-l6-v2/` for the browser embedder.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::server::Fallback;
use crate::http::{Method, Request, Response};

/// Where the demo's files are on disk.
#[derive(Debug, Clone)]
pub struct StaticDirs {
    pub www: PathBuf,
    pub pkg: PathBuf,
    /// The local model's directory (`model.onnx`, `tokenizer.json`), when one is configured.
    pub models: Option<PathBuf>,
}

/// The model files the browser embedder fetches; nothing else in the model directory is served.
const MODEL_FILES: &[&str] = &["model.onnx", "tokenizer.json"];

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `rel` under `root`, refusing anything that could leave it.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = root.join(rel);
    let path = if path.is_dir() {
        path.join("index.html")
    } else {
        path
    };
    path.is_file().then_some(path)
}

fn file(path: &Path) -> Option<Response> {
    let body = std::fs::read(path).ok()?;
    Some(
        Response::bytes(200, content_type(path), body)
            .with_header("cache-control", "no-cache")
            .with_header("x-content-type-options", "nosniff"),
    )
}

/// Answers GETs for the demo's files; everything else goes on to the API.
pub fn fallback(dirs: StaticDirs, sample: &'static [u8]) -> Fallback {
    // The bundled sample never changes while the process runs: one strong ETag lets clients
    // (the demo Worker's IndexedDB cache) revalidate it with a 304.
    let sample_etag = format!("\"{:08x}\"", vecgate_core::checksum::crc32(sample));
    Arc::new(move |req: &Request| {
        if req.method != Method::Get {
            return None;
        }
        let path = crate::http::percent_decode(&req.path);
        if path == "/sample/movies.vgcs" {
            let fresh = req
                .header("if-none-match")
                .is_some_and(|tags| tags.split(',').any(|t| t.trim() == sample_etag));
            let response = if fresh {
                Response::bytes(304, "application/vnd.vecgate.candidates", Vec::new())
            } else {
                Response::bytes(200, "application/vnd.vecgate.candidates", sample.to_vec())
            };
            return Some(
                response
                    .with_header("cache-control", "public, max-age=86400")
                    .with_header("etag", &sample_etag),
            );
        }
        if let Some(name) = path.strip_prefix("/models/all-minilm-l6-v2/") {
            let dir = dirs.models.as_ref()?;
            let name = MODEL_FILES.iter().find(|f| **f == name)?;
            // The browser keeps its own copy (Cache Storage); a day is plenty for revalidation.
            return file(&dir.join(name))
                .map(|r| r.with_header("cache-control", "public, max-age=86400"));
        }
        if let Some(rest) = path.strip_prefix("/pkg/") {
            return resolve(&dirs.pkg, rest).and_then(|p| file(&p));
        }
        // The API's own paths are never files.
        if path.starts_with("/v1/")
            || matches!(path.as_str(), "/health" | "/metrics" | "/openapi.json")
        {
            return None;
        }
        resolve(&dirs.www, &path).and_then(|p| file(&p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_files_and_refuses_traversal() {
        let root = std::env::temp_dir().join(format!("vecgate-static-{}", std::process::id()));
        let www = root.join("www");
        let pkg = root.join("pkg");
        std::fs::create_dir_all(www.join("js")).unwrap();
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(www.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(www.join("js/app.js"), "1").unwrap();
        std::fs::write(pkg.join("x.wasm"), [0, 97, 115, 109]).unwrap();
        std::fs::write(root.join("secret"), "no").unwrap();
        let models = root.join("models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("tokenizer.json"), "{}").unwrap();
        std::fs::write(models.join("notes.txt"), "private").unwrap();
        let f = fallback(
            StaticDirs {
                www,
                pkg,
                models: Some(models),
            },
            b"VGCS",
        );
        let get = |p: &str| f(&Request::new(Method::Get, p));
        let index = get("/").unwrap();
        assert_eq!(
            (index.status, index.header("content-type")),
            (200, Some("text/html; charset=utf-8"))
        );
        assert_eq!(get("/js/app.js").unwrap().body, b"1");
        assert_eq!(
            get("/pkg/x.wasm").unwrap().header("content-type"),
            Some("application/wasm")
        );
        let sample = get("/sample/movies.vgcs").unwrap();
        assert_eq!((sample.status, &sample.body[..]), (200, &b"VGCS"[..]));
        let etag = sample.header("etag").unwrap().to_owned();
        let mut revalidate = Request::new(Method::Get, "/sample/movies.vgcs");
        revalidate
            .headers
            .push(("if-none-match".into(), format!("\"x\", {etag}")));
        let not_modified = f(&revalidate).unwrap();
        assert_eq!((not_modified.status, not_modified.body.len()), (304, 0));
        revalidate.headers[0].1 = "\"other\"".into();
        assert_eq!(f(&revalidate).unwrap().status, 200);
        assert_eq!(
            get("/models/all-minilm-l6-v2/tokenizer.json").unwrap().body,
            b"{}"
        );
        assert!(get("/models/all-minilm-l6-v2/notes.txt").is_none());
        assert!(get("/models/all-minilm-l6-v2/../secret").is_none());
        assert!(get("/../secret").is_none());
        assert!(get("/%2e%2e/secret").is_none());
        assert!(get("/pkg/../secret").is_none());
        assert!(get("/v1/stats").is_none());
        assert!(get("/missing.js").is_none());
        assert!(f(&Request::new(Method::Post, "/")).is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
