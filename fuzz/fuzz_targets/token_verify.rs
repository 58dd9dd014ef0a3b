//! User tokens: arbitrary input to the verifier the API authenticates with. Byte 0 picks how
//! the rest is used:
//! - even: the rest is the token itself (headers, algorithms, kids, base64, JSON: anything);
//! - odd: the rest is a claims document, signed with the configured HS256 secret, so the
//!   fuzzer reaches the claim checks (exp, nbf, aud, iss, sub, the role claim).
//!
//! Checks: never a panic; no raw input is ever accepted (nothing here holds a private key, and
//! the secret signs only mode-1 claims); an accepted mode-1 token names its `sub` as the user
//! and has an unexpired `exp`, no future `nbf`, and the configured `aud` and `iss`.
//! Seeds: `fuzz/corpus/token_verify/`.
#![no_main]

use std::sync::OnceLock;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vecgate_edge::api::token::{parse_jwks, TokenVerifier};
use vecgate_edge::config::TokenConfig;

const SECRET: &str = "fuzz-secret-0001-0123456789abcdefgh";
const AUDIENCE: &str = "vecgate-fuzz";
const ISSUER: &str = "https://issuer.fuzz/";
const LEEWAY_S: u64 = 5;

fn verifier() -> &'static TokenVerifier {
    static VERIFIER: OnceLock<TokenVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let jwks = parse_jwks(include_str!("../../tests/fixtures/jwt/jwks.json"))
            .expect("the fixture JWKS");
        TokenVerifier::new(
            TokenConfig {
                hs256_secret: Some(SECRET.into()),
                issuer: Some(ISSUER.into()),
                audience: Some(AUDIENCE.into()),
                leeway_s: LEEWAY_S,
                role_claim: Some("app_metadata.role".into()),
            },
            jwks,
        )
    })
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let verifier = verifier();
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        // Nothing here holds a private key or the secret: nothing may verify.
        assert!(
            verifier.verify(token).is_err(),
            "an unsigned fuzz input was accepted: {token}"
        );
        return;
    }
    let Ok(claims) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let Ok(token) = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    ) else {
        return;
    };
    let Ok(accepted) = verifier.verify(&token) else {
        return;
    };
    assert_eq!(claims["sub"].as_str(), Some(accepted.user.as_str()));
    assert!(!accepted.user.is_empty());
    let exp = claims["exp"].as_f64().expect("an accepted token has a numeric exp");
    assert!(exp + LEEWAY_S as f64 >= now() as f64, "expired token accepted: {claims}");
    if let Some(nbf) = claims["nbf"].as_f64() {
        assert!(nbf <= (now() + LEEWAY_S) as f64, "token not valid yet accepted: {claims}");
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == AUDIENCE,
        Value::Array(a) => a.iter().any(|x| x == AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "wrong audience accepted: {claims}");
    assert_eq!(claims["iss"].as_str(), Some(ISSUER), "wrong issuer accepted");
});
