//! User tokens: JWTs verified with [`jsonwebtoken`] (pure-Rust RustCrypto backend, so the Spin
//! component verifies exactly as the native server does).
//!
//! Only four algorithms are accepted, each with its own kind of key, so a token can never pick
//! how it is checked: HS256 with the shared `jwt_secret`, and RS256, ES256 (P-256) or EdDSA
//! (Ed25519) with a public key of the same type from the JWKS, found by the header's `kid`.
//! `alg: none` does not parse, and an HS256 header is never checked against a JWKS key.

use std::sync::RwLock;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::config::{Role, TokenConfig};

/// Why a token was refused. The message is safe to show the caller: it names the check, never
/// the token's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The header names a key id the JWKS does not have (a refresh may find it).
    UnknownKey,
    Invalid(&'static str),
}

impl TokenError {
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::UnknownKey => "the token's key id (kid) is not in the configured JWKS",
            TokenError::Invalid(m) => m,
        }
    }
}

/// A verified token's user and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub user: String,
    pub role: Role,
}

/// Verifies tokens against the configured secret and key set. The key set can be replaced
/// (a JWKS fetched from a URL is refreshed on an unknown `kid`).
pub struct TokenVerifier {
    config: TokenConfig,
    jwks: RwLock<JwkSet>,
}

/// Whether a bearer credential looks like a JWT (three base64url parts) rather than an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses a JWKS document (`{"keys": [...]}`).
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    serde_json::from_str(text).map_err(|e| format!("jwt_jwks is not a JWKS document: {e}"))
}

impl TokenVerifier {
    pub fn new(config: TokenConfig, jwks: JwkSet) -> TokenVerifier {
        TokenVerifier {
            config,
            jwks: RwLock::new(jwks),
        }
    }

    /// Replaces the key set (after a refresh).
    pub fn set_jwks(&self, jwks: JwkSet) {
        if let Ok(mut keys) = self.jwks.write() {
            *keys = jwks;
        }
    }

    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let header =
            decode_header(token).map_err(|_| TokenError::Invalid("malformed token header"))?;
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret = self
                    .config
                    .hs256_secret
                    .as_deref()
                    .ok_or(TokenError::Invalid(
                        "HS256 tokens are not accepted (no jwt_secret is configured)",
                    ))?;
                DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|_| TokenError::Invalid("unusable jwt_secret"))?
            }
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                let keys = self
                    .jwks
                    .read()
                    .map_err(|_| TokenError::Invalid("key set unavailable"))?;
                let jwk = find_key(&keys, header.kid.as_deref())?;
                check_key_fits(jwk, header.alg)?;
                DecodingKey::from_jwk(jwk)
                    .map_err(|_| TokenError::Invalid("unusable key in the JWKS"))?
            }
            _ => {
                return Err(TokenError::Invalid(
                    "unsupported token algorithm (HS256, RS256, ES256 or EdDSA)",
                ))
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway_s;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| TokenError::Invalid(reason(e.kind())))?
            .claims;
        let user = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(TokenError::Invalid(
                "the token's sub claim must be a string",
            ))?
            .to_owned();
        let role = match &self.config.role_claim {
            Some(name) => claim(&claims, name)
                .and_then(Value::as_str)
                .and_then(Role::parse)
                .unwrap_or(Role::Read),
            None => Role::Read,
        };
        Ok(TokenClaims { user, role })
    }
}

/// The key named by `kid`; without a `kid`, the set's only key.
fn find_key<'a>(keys: &'a JwkSet, kid: Option<&str>) -> Result<&'a Jwk, TokenError> {
    match kid {
        Some(kid) => keys.find(kid).ok_or(TokenError::UnknownKey),
        None if keys.keys.len() == 1 => Ok(&keys.keys[0]),
        None => Err(TokenError::Invalid(
            "the token has no kid and the JWKS holds more than one key",
        )),
    }
}

/// The key's type (and its own `alg`, when it states one) must be the header's algorithm.
fn check_key_fits(jwk: &Jwk, alg: Algorithm) -> Result<(), TokenError> {
    let type_fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    let stated = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => alg == Algorithm::EdDSA,
        Some(_) => false,
    };
    if type_fits && stated {
        Ok(())
    } else {
        Err(TokenError::Invalid(
            "the token's algorithm does not match its key's type",
        ))
    }
}

/// A claim by its exact name (`https://example.com/role`), else by a dotted path
/// (`app_metadata.vecgate_role`).
fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    claims
        .get(name)
        .or_else(|| name.split('.').try_fold(claims, |v, part| v.get(part)))
}

fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match kind {
        ExpiredSignature => "the token has expired",
        ImmatureSignature => "the token is not valid yet (nbf)",
        InvalidAudience => "the token's audience (aud) is not this API",
        InvalidIssuer => "the token's issuer (iss) is not the configured one",
        InvalidSignature => "the token's signature does not verify",
        InvalidAlgorithm => "the token's algorithm does not match its key",
        MissingRequiredClaim(_) => {
            "the token lacks a required claim (exp, sub, and aud/iss when configured)"
        }
        _ => "malformed token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(
            TokenConfig {
                hs256_secret: Some("a-test-secret-of-32-bytes-length!".into()),
                audience: Some("vecgate".into()),
                issuer: Some("https://issuer.test/".into()),
                leeway_s: 5,
                role_claim: Some("app_metadata.vecgate_role".into()),
            },
            JwkSet { keys: Vec::new() },
        )
    }

    fn hs(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"a-test-secret-of-32-bytes-length!").unwrap(),
        )
        .unwrap()
    }

    fn good() -> Value {
        json!({"sub": "user-7", "exp": now() + 60, "aud": "vecgate", "iss": "https://issuer.test/"})
    }

    #[test]
    fn hs256_tokens_are_checked_claim_by_claim() {
        let v = verifier();
        assert_eq!(
            v.verify(&hs(good())),
            Ok(TokenClaims {
                user: "user-7".into(),
                role: Role::Read
            })
        );
        let mut admin = good();
        admin["app_metadata"] = json!({"vecgate_role": "admin"});
        assert_eq!(v.verify(&hs(admin)).unwrap().role, Role::Admin);
        for (field, value, why) in [
            ("exp", json!(now() - 60), "expired"),
            ("aud", json!("other"), "audience"),
            ("iss", json!("https://evil.test/"), "issuer"),
            ("nbf", json!(now() + 600), "not valid yet"),
            ("sub", json!(7), "sub"),
        ] {
            let mut claims = good();
            claims[field] = value;
            let err = v.verify(&hs(claims)).unwrap_err();
            assert!(err.message().contains(why), "{field}: {err:?}");
        }
        let mut no_aud = good();
        no_aud.as_object_mut().unwrap().remove("aud");
        assert!(v.verify(&hs(no_aud)).is_err());
    }

    #[test]
    fn alg_none_and_tampering_are_refused() {
        let v = verifier();
        let token = hs(good());
        let mut parts: Vec<&str> = token.split('.').collect();
        // {"alg":"none","typ":"JWT"}
        parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        assert!(v.verify(&format!("{}.{}.", parts[0], parts[1])).is_err());
        let forged = format!("{}.{}x.{}", token.split('.').next().unwrap(), "e30", "sig");
        assert!(v.verify(&forged).is_err());
        assert!(v.verify("not-a-token").is_err());
        assert!(looks_like_jwt(&token) && !looks_like_jwt("read-key-0001"));
    }
}
