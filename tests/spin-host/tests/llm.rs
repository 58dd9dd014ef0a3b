//! The host's `fermyon:spin/llm@2.0.0`, called directly: what the component cannot show
//! (it only ever asks for all-MiniLM-L6-v2, which spin.toml allows).

use vecgate_embed::MODEL_NAME;
use vecgate_spin_host::bindings::fermyon::spin::llm::Error;
use vecgate_spin_host::llm::Llm;

/// Spin's refusal of a model missing from `ai_models`: `invalid-input`, naming the key.
fn assert_access_denied(result: Result<impl std::fmt::Debug, Error>, model: &str) {
    match result {
        Err(Error::InvalidInput(message)) => {
            assert!(message.contains(model), "{message}");
            assert!(message.contains("'ai_models'"), "{message}");
        }
        other => panic!("{model}: expected invalid-input (access denied), got {other:?}"),
    }
}

#[tokio::test]
async fn models_off_the_allow_list_are_refused() {
    let none = Llm::new(&[]);
    assert_access_denied(
        none.generate_embeddings(MODEL_NAME, vec!["toys".into()])
            .await,
        MODEL_NAME,
    );
    assert_access_denied(none.infer("llama2-chat"), "llama2-chat");

    let some = Llm::new(&[MODEL_NAME, "llama2-chat", "bge-small"]);
    assert_access_denied(
        some.generate_embeddings("all-minilm-l12-v2", vec!["toys".into()])
            .await,
        "all-minilm-l12-v2",
    );
    // Allowed, but not a model this host has: no LLMs, one embedding model.
    assert_eq!(some.infer("llama2-chat"), Err(Error::ModelNotSupported));
    assert_eq!(
        some.generate_embeddings("bge-small", vec!["toys".into()])
            .await,
        Err(Error::ModelNotSupported)
    );
}

#[tokio::test]
async fn the_allowed_model_embeds_and_counts_tokens() {
    let llm = Llm::new(&[MODEL_NAME]);
    // [CLS] hello world [SEP], and 300 words cut to the model's 256 tokens.
    let texts = vec!["hello world".to_owned(), "space ".repeat(300)];
    let result = llm
        .generate_embeddings(MODEL_NAME, texts)
        .await
        .expect("embeddings (is the model installed? bash scripts/install-model.sh)");
    assert_eq!(result.usage.prompt_token_count, 4 + 256);
    assert_eq!(result.embeddings.len(), 2);
    for vector in &result.embeddings {
        assert_eq!(vector.len(), 384);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert_ne!(result.embeddings[0], result.embeddings[1]);

    match llm
        .generate_embeddings(MODEL_NAME, vec!["toys".into(), " ".into()])
        .await
    {
        Err(Error::InvalidInput(message)) => assert!(message.contains("empty"), "{message}"),
        other => panic!("an empty text: expected invalid-input, got {other:?}"),
    }
}
