//! The JWKS of user tokens from a file or a URL (`jwt_jwks`): read at start, and a URL fetched
//! again when a token names a key id the set lacks (the issuer rotated its keys).

use std::time::Duration;

use super::server::NativeHandler;
use crate::api::token::parse_jwks;
use crate::config::{Config, JwksSource};

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The JWKS document a file or URL holds (`None` when inline or unset). A URL that can't be
/// fetched at start is an error: starting would refuse every token.
pub async fn load(config: &Config) -> Result<Option<String>, String> {
    let doc = match &config.jwks {
        Some(JwksSource::File(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("jwt_jwks: cannot read {path}: {e}"))?,
        Some(JwksSource::Url(url)) => fetch(url).await?,
        _ => return Ok(None),
    };
    parse_jwks(&doc)?;
    Ok(Some(doc))
}

async fn fetch(url: &str) -> Result<String, String> {
    let fail = |e: reqwest::Error| format!("jwt_jwks: fetching {url}: {}", e.without_url());
    let response = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(fail)?
        .get(url)
        .send()
        .await
        .map_err(fail)?
        .error_for_status()
        .map_err(fail)?;
    response.text().await.map_err(fail)
}

/// Gives the handler the loaded key set and, for a URL, the way to fetch it again.
pub fn install(handler: &mut NativeHandler, doc: Option<String>) {
    let (Some(doc), Some(verifier)) = (doc, &handler.auth.tokens) else {
        return;
    };
    if let Ok(jwks) = parse_jwks(&doc) {
        verifier.set_jwks(jwks);
    }
    if let Some(JwksSource::Url(url)) = &handler.config.jwks {
        let url = url.clone();
        handler.jwks_refresh = Some(Box::new(move || {
            let url = url.clone();
            Box::pin(async move { fetch(&url).await })
        }));
    }
}
