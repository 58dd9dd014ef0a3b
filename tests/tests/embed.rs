//! The local all-MiniLM-L6-v2 (vecgate-embed) against the sample's own vectors, and how
//! `vecgate serve` and `vecgate import` use it. Needs `bash scripts/install-model.sh`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_edge::native::embed_host::{default_model_dir, load_model, INSTALL_MODEL};
use vecgate_embed::{EmbedError, TextEmbedder};
use vecgate_tests::data::movies;
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::{vecgate_bin, Server};

fn model_dir() -> PathBuf {
    std::env::var_os("VECGATE_MODEL_DIR").map_or_else(default_model_dir, PathBuf::from)
}

fn embedder() -> &'static TextEmbedder {
    static MODEL: OnceLock<TextEmbedder> = OnceLock::new();
    MODEL.get_or_init(|| load_model(&model_dir()).unwrap_or_else(|e| panic!("{e}")))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn every_sample_text_embeds_like_the_files_vector() {
    let m = movies();
    let mut cases: Vec<(&str, &[f32])> = m
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item["text"].as_str().expect("text"), m.vector(i)))
        .collect();
    cases.extend(m.queries.iter().map(|(t, v)| (t.as_str(), v.as_slice())));
    assert_eq!(cases.len(), 3212);
    let (mut worst, mut sum) = (f32::MAX, 0f64);
    for chunk in cases.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|(t, _)| *t).collect();
        let vectors = embedder().embed_batch(&texts).expect("embed");
        for ((text, want), got) in chunk.iter().zip(vectors) {
            assert_eq!(got.len(), m.dims);
            let cos = cosine(&got, want);
            assert!(cos >= 0.995, "{text:?}: cosine {cos} to the file's vector");
            worst = worst.min(cos);
            sum += f64::from(cos);
        }
    }
    eprintln!(
        "3,212 texts: mean cosine {:.6}, lowest {worst:.6}",
        sum / cases.len() as f64
    );
}

#[test]
fn a_batch_of_mixed_lengths_equals_one_text_at_a_time() {
    let m = movies();
    let mut texts: Vec<String> = (0..24)
        .map(|i| m.items[i * 97]["text"].as_str().unwrap().to_owned())
        .collect();
    texts.push("toys".into());
    texts.push("a long one ".repeat(40));
    texts.push("Amélie, 北京 and a tab\tand\nnewline — ok?".into());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = embedder().embed_batch(&refs).unwrap();
    for (text, b) in refs.iter().zip(&batch) {
        let single = embedder().embed(text).unwrap();
        let diff = single
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{text:?}: batch and single differ by {diff}");
    }
}

#[test]
fn bad_input_and_damaged_models_are_errors_not_panics() {
    let e = embedder();
    assert_eq!(e.embed(""), Err(EmbedError::EmptyText));
    assert_eq!(e.embed(" \n\t"), Err(EmbedError::EmptyText));
    assert_eq!(e.embed_batch(&["ok", ""]), Err(EmbedError::EmptyText));
    // Past 256 tokens nothing counts: the two texts differ only after the cut.
    let long = "word ".repeat(400);
    assert_eq!(e.token_count(&long), vecgate_embed::MAX_TOKENS);
    assert_eq!(
        e.embed(&(long.clone() + "comedy")).unwrap(),
        e.embed(&(long + "horror")).unwrap()
    );

    let dir = model_dir();
    let model = std::fs::read(dir.join("model.onnx")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let mut flipped = model.clone();
    for b in flipped.iter_mut().take(64) {
        *b ^= 0x5a;
    }
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not ONNX", b"hello, model".to_vec()),
        ("first 100 bytes", model[..100].to_vec()),
        ("first half", model[..model.len() / 2].to_vec()),
        ("last byte missing", model[..model.len() - 1].to_vec()),
        ("header scrambled", flipped),
    ];
    for (what, bytes) in damaged {
        let result = std::panic::catch_unwind(|| TextEmbedder::new(bytes, &tokenizer));
        match result {
            Ok(Err(EmbedError::Model(m))) => assert!(!m.is_empty(), "{what}"),
            Ok(Err(other)) => panic!("{what}: unexpected error kind {other:?}"),
            Ok(Ok(_)) => panic!("{what}: a damaged model loaded"),
            Err(_) => panic!("{what}: loading panicked"),
        }
    }
    for bad in [&b""[..], b"{}", &tokenizer[..tokenizer.len() / 2]] {
        assert!(matches!(
            TextEmbedder::new(model.clone(), bad),
            Err(EmbedError::Tokenizer(_))
        ));
    }
}

/// Runs `vecgate ARGS` to its end (at most 60 s) and returns (success, stdout + stderr).
fn run_vecgate(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = std::env::temp_dir().join(format!("vecgate-embed-run-{}-{run}", std::process::id()));
    let file = std::fs::File::create(&out).unwrap();
    let mut child = Command::new(vecgate_bin())
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("VECGATE_MODEL_DIR")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vecgate {args:?} did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    (status.success(), text)
}

#[test]
fn serve_refuses_to_start_without_a_usable_model_or_with_the_wrong_dimension() {
    let data = empty_temp_dir("embed-startup");
    let data = data.to_str().unwrap();
    let missing = empty_temp_dir("no-model");
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0", "--data-dir", data];
        args.extend_from_slice(extra);
        run_vecgate(&args, &[])
    };
    let (ok, out) = serve(&[
        "--dimensions",
        "384",
        "--model-dir",
        missing.to_str().unwrap(),
    ]);
    assert!(!ok, "started without model files:\n{out}");
    assert!(
        out.contains(&missing.join("model.onnx").display().to_string())
            && out.contains(INSTALL_MODEL),
        "the error names the path and the install command:\n{out}"
    );

    let damaged = empty_temp_dir("damaged-model");
    std::fs::create_dir_all(&damaged).unwrap();
    let model = std::fs::read(model_dir().join("model.onnx")).unwrap();
    std::fs::write(damaged.join("model.onnx"), &model[..model.len() / 3]).unwrap();
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        damaged.join("tokenizer.json"),
    )
    .unwrap();
    let (ok, out) = serve(&[
        "--dimensions",
        "384",
        "--model-dir",
        damaged.to_str().unwrap(),
    ]);
    assert!(!ok, "started with a damaged model:\n{out}");
    assert!(
        out.contains("unusable") && !out.contains("panicked"),
        "{out}"
    );

    let model_dir = model_dir();
    let (ok, out) = serve(&[
        "--dimensions",
        "768",
        "--model-dir",
        model_dir.to_str().unwrap(),
    ]);
    assert!(!ok, "started with a 384-d model and 768 dimensions:\n{out}");
    assert!(
        out.contains("384") && out.contains("768") && out.contains("--local-model off"),
        "{out}"
    );
    for dir in [missing, damaged] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_dir_all(data);
}

fn search(server: &Server, body: Value) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(server.url("/v1/search"))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn text_queries_are_off_only_when_asked() {
    let dir = empty_temp_dir("embed-off");
    let server = Server::start(
        &["--dimensions", "384", "--data-dir", dir.to_str().unwrap()],
        &[("VECGATE_LOCAL_MODEL", "off")],
    );
    let (status, v) = search(&server, json!({"text": "toys"}));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("local_model")));
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// `vecgate import` embeds the lines that carry text and no vector, under its progress bar,
/// and they land where the file's own vectors would.
#[test]
fn import_embeds_lines_without_vectors() {
    let m = movies();
    let dir = empty_temp_dir("embed-import");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("films.jsonl");
    let lines: Vec<String> = (0..120)
        .map(|i| {
            let mut item = m.items[i * 25].clone();
            if i % 2 == 0 {
                item.as_object_mut().unwrap().remove("vector");
            }
            item.to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let data = dir.join("data");
    let (ok, out) = run_vecgate(
        &[
            "import",
            file.to_str().unwrap(),
            "--batch",
            "50",
            "--dimensions",
            "384",
            "--data-dir",
            data.to_str().unwrap(),
            "--model-dir",
            model_dir().to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 120 items") && out.contains("60 embedded"),
        "{out}"
    );
    let server = Server::start(
        &["--dimensions", "384", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    for i in (0..120).step_by(2) {
        let id = m.items[i * 25]["id"].as_str().unwrap();
        let got: Value = reqwest::blocking::get(server.url(&format!("/v1/content/{id}")))
            .unwrap()
            .json()
            .unwrap();
        let vector: Vec<f32> = serde_json::from_value(got["vector"].clone()).unwrap();
        let cos = cosine(&vector, m.vector(i * 25));
        assert!(cos >= 0.995, "{id}: embedded vector cosine {cos}");
    }
    drop(server);

    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        r#"{"id": "x-1", "media_type": "movie", "metadata": {}, "text": "   "}"#,
    )
    .unwrap();
    let (ok, out) = run_vecgate(
        &[
            "import",
            bad.to_str().unwrap(),
            "--dimensions",
            "384",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        !ok && out.contains("line 1") && out.contains("empty"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
