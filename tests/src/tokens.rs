//! User tokens for the tests, signed with the test-only keys in `tests/fixtures/jwt/`, and the
//! server settings that accept them.

use std::path::PathBuf;

use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The settings' `jwt_secret` (HS256).
pub const HS256_SECRET: &str = "hs256-test-secret-0001-0123456789abcdef";
pub const AUDIENCE: &str = "vecgate-tests";
pub const ISSUER: &str = "https://issuer.vecgate.test/";
/// The claim path that carries a token's role.
pub const ROLE_CLAIM: &str = "app_metadata.vecgate_role";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/jwt")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The JWKS document (public keys rsa-1, ec-1, ed-1), as one line.
pub fn jwks() -> String {
    let v: Value = serde_json::from_slice(&read("jwks.json")).expect("jwks.json");
    v.to_string()
}

/// The same set plus `rsa-2` (a rotated-in key).
pub fn jwks_rotated() -> String {
    let v: Value = serde_json::from_slice(&read("jwks-rotated.json")).expect("jwks-rotated.json");
    v.to_string()
}

/// The server settings (as `VECGATE_*` variables) that accept these tokens.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("VECGATE_JWT_SECRET", HS256_SECRET.to_owned()),
        ("VECGATE_JWT_JWKS", jwks()),
        ("VECGATE_JWT_AUDIENCE", AUDIENCE.to_owned()),
        ("VECGATE_JWT_ISSUER", ISSUER.to_owned()),
        ("VECGATE_JWT_ROLE_CLAIM", ROLE_CLAIM.to_owned()),
    ]
}

/// Valid claims for `user`, for ten minutes.
pub fn claims(user: &str) -> Value {
    json!({
        "sub": user,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": get_current_timestamp(),
        "exp": get_current_timestamp() + 600,
    })
}

/// `claims` with `app_metadata.vecgate_role = role`.
pub fn claims_with_role(user: &str, role: &str) -> Value {
    let mut c = claims(user);
    c["app_metadata"] = json!({"vecgate_role": role});
    c
}

/// How a token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Hs256,
    /// RS256 with `rsa-1`.
    Rs256,
    /// RS256 with `rsa-2`, which only the rotated JWKS knows.
    Rs256Rotated,
    Es256,
    EdDsa,
}

pub fn sign(signer: Signer, claims: &Value) -> String {
    let (alg, kid, key) = match signer {
        Signer::Hs256 => (
            Algorithm::HS256,
            None,
            EncodingKey::from_secret(HS256_SECRET.as_bytes()).unwrap(),
        ),
        Signer::Rs256 => (
            Algorithm::RS256,
            Some("rsa-1"),
            EncodingKey::from_rsa_pem(&read("rsa.pem")).unwrap(),
        ),
        Signer::Rs256Rotated => (
            Algorithm::RS256,
            Some("rsa-2"),
            EncodingKey::from_rsa_pem(&read("rsa-rotated.pem")).unwrap(),
        ),
        Signer::Es256 => (
            Algorithm::ES256,
            Some("ec-1"),
            EncodingKey::from_ec_pem(&read("ec.pem")).unwrap(),
        ),
        Signer::EdDsa => (
            Algorithm::EdDSA,
            Some("ed-1"),
            EncodingKey::from_ed_pem(&read("ed25519.pem")).unwrap(),
        ),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).expect("sign a token")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `alg: none`: claims and no signature.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// The HS256/RS256 confusion attack: an HS256 token whose HMAC key is the RSA public key's PEM,
/// which an attacker can read from the JWKS.
pub fn hs_rs_confusion(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(&read("rsa-public.pem")).unwrap(),
    )
    .expect("sign")
}

/// A valid token with one character of its signature changed.
pub fn tampered(token: &str) -> String {
    let (rest, signature) = token.rsplit_once('.').expect("a JWT");
    let mut sig: Vec<char> = signature.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    format!("{rest}.{}", sig.into_iter().collect::<String>())
}
