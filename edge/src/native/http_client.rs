//! Outbound HTTP for the embeddings client, over reqwest.

use std::time::Duration;

use crate::embed::{EmbedError, HttpPost};

#[derive(Clone, Default)]
pub struct ReqwestPost {
    client: reqwest::Client,
}

impl HttpPost for ReqwestPost {
    async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError> {
        let mut req = self
            .client
            .post(url)
            .timeout(Duration::from_millis(timeout_ms))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = bearer {
            req = req.bearer_auth(key);
        }
        let classify = |e: reqwest::Error| {
            // Without the URL: it may carry credentials.
            let e = e.without_url();
            if e.is_timeout() {
                EmbedError::Timeout(format!("no answer within {timeout_ms} ms"))
            } else {
                EmbedError::Unavailable(e.to_string())
            }
        };
        let response = req.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(classify)?;
        Ok((status, bytes.to_vec()))
    }
}
