//! Who may do what, on every backend: the authorization matrix generated from the OpenAPI
//! document, CORS and content types, and erasing a user.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{
    assert_error, user_token, Api, Target, ADMIN_KEY, ALLOWED_ORIGIN, READ_KEY, USER7_KEY,
    USER8_KEY, WRITE_KEY,
};
use crate::data::movies;
use crate::tokens::{self, Signer};

/// A credential and what the server should make of it.
struct Caller {
    name: &'static str,
    /// The whole `Authorization` header.
    header: Option<String>,
    /// `None`: refused (401). Else its role (0 read, 1 write, 2 admin) and user.
    identity: Option<(u8, Option<&'static str>)>,
}

fn callers() -> Vec<Caller> {
    let bearer = |t: String| Some(format!("Bearer {t}"));
    let user7 = tokens::claims("user-7");
    let mut expired = user7.clone();
    expired["exp"] = json!(tokens::claims("x")["iat"].as_u64().unwrap() - 3600);
    let mut wrong_aud = user7.clone();
    wrong_aud["aud"] = json!("another-api");
    let mut wrong_iss = user7.clone();
    wrong_iss["iss"] = json!("https://evil.example/");
    let mut not_yet = user7.clone();
    not_yet["nbf"] = json!(tokens::claims("x")["iat"].as_u64().unwrap() + 3600);
    let refused = |name, header| Caller {
        name,
        header,
        identity: None,
    };
    let ok = |name, header, role, user| Caller {
        name,
        header,
        identity: Some((role, user)),
    };
    vec![
        refused("no credential", None),
        refused("malformed header", Some(format!("Token {READ_KEY}"))),
        refused("unknown key", bearer("not-a-configured-key".into())),
        ok("read key", bearer(READ_KEY.into()), 0, None),
        ok("write key", bearer(WRITE_KEY.into()), 1, None),
        ok("admin key", bearer(ADMIN_KEY.into()), 2, None),
        ok("key of user-7", bearer(USER7_KEY.into()), 0, Some("user-7")),
        ok("key of user-8", bearer(USER8_KEY.into()), 0, Some("user-8")),
        ok(
            "RS256 token of user-7",
            bearer(tokens::sign(Signer::Rs256, &user7)),
            0,
            Some("user-7"),
        ),
        ok(
            "ES256 token of user-7",
            bearer(tokens::sign(Signer::Es256, &user7)),
            0,
            Some("user-7"),
        ),
        ok(
            "EdDSA token of user-7",
            bearer(tokens::sign(Signer::EdDsa, &user7)),
            0,
            Some("user-7"),
        ),
        ok(
            "HS256 token of user-8",
            bearer(tokens::sign(Signer::Hs256, &tokens::claims("user-8"))),
            0,
            Some("user-8"),
        ),
        ok(
            "write-role token of editor-1",
            bearer(tokens::sign(
                Signer::Hs256,
                &tokens::claims_with_role("editor-1", "write"),
            )),
            1,
            Some("editor-1"),
        ),
        ok(
            "admin-role token of ops-1",
            bearer(tokens::sign(
                Signer::Rs256,
                &tokens::claims_with_role("ops-1", "admin"),
            )),
            2,
            Some("ops-1"),
        ),
        refused(
            "expired token",
            bearer(tokens::sign(Signer::Rs256, &expired)),
        ),
        refused(
            "token not valid yet",
            bearer(tokens::sign(Signer::Rs256, &not_yet)),
        ),
        refused(
            "token for another aud",
            bearer(tokens::sign(Signer::Rs256, &wrong_aud)),
        ),
        refused(
            "token from another iss",
            bearer(tokens::sign(Signer::Hs256, &wrong_iss)),
        ),
        refused("alg none", bearer(tokens::unsigned(&user7))),
        refused(
            "HS256 signed with the RSA public key",
            bearer(tokens::hs_rs_confusion(&user7)),
        ),
        refused(
            "unknown kid",
            bearer(tokens::sign(Signer::Rs256Rotated, &user7)),
        ),
        refused(
            "tampered signature",
            bearer(tokens::tampered(&tokens::sign(Signer::Rs256, &user7))),
        ),
    ]
}

/// What a probe needs of its caller.
#[derive(Clone, Copy)]
enum Rule {
    /// Anyone, any credential (it is not read).
    Public,
    /// Any valid credential.
    Authenticated,
    /// A write or admin role.
    Write,
    /// user-7 or an admin.
    User7,
    /// A group of user-7 and user-8: an admin only.
    Group,
    /// `personalize` without `user_id`: a user's own credential (a service key has no user: 400).
    OwnUser,
}

/// State a probe needs before each call.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    None,
    /// user-7 has a preference.
    Preference,
    /// The item `auth-probe` exists.
    ProbeItem,
}

struct Probe {
    operation: &'static str,
    /// The request fields naming a user that this probe exercises.
    fields: &'static [&'static str],
    method: &'static str,
    path: String,
    body: Option<Value>,
    rule: Rule,
    setup: Setup,
}

fn probes() -> Vec<Probe> {
    let m = movies();
    let q = json!(m.query("animated film for kids about toys"));
    let pref = json!({"vector": m.vector(3), "confidence": 0.5, "genre_affinities": {}});
    let item =
        json!({"items": [{"id": "auth-probe", "media_type": "movie", "vector": m.vector(3)}]});
    let p = |operation, fields, method, path: &str, body: Option<Value>, rule, setup| Probe {
        operation,
        fields,
        method,
        path: path.to_owned(),
        body,
        rule,
        setup,
    };
    use Rule::*;
    vec![
        p("health", &[], "GET", "/health", None, Public, Setup::None),
        p(
            "openapi",
            &[],
            "GET",
            "/openapi.json",
            None,
            Public,
            Setup::None,
        ),
        p(
            "metrics",
            &[],
            "GET",
            "/metrics",
            None,
            Authenticated,
            Setup::None,
        ),
        p(
            "stats",
            &[],
            "GET",
            "/v1/stats",
            None,
            Authenticated,
            Setup::None,
        ),
        p(
            "search",
            &[],
            "POST",
            "/v1/search",
            Some(json!({"vector": q, "k": 1})),
            Authenticated,
            Setup::None,
        ),
        p(
            "search",
            &["user_id"],
            "POST",
            "/v1/search",
            Some(json!({"vector": q, "k": 1, "user_id": "user-7"})),
            User7,
            Setup::None,
        ),
        p(
            "search",
            &["user_id", "personalize"],
            "POST",
            "/v1/search",
            Some(json!({"vector": q, "k": 1, "user_id": "user-7", "personalize": true})),
            User7,
            Setup::Preference,
        ),
        p(
            "search",
            &["personalize"],
            "POST",
            "/v1/search",
            Some(json!({"vector": q, "k": 1, "personalize": true})),
            OwnUser,
            Setup::None,
        ),
        p(
            "candidates",
            &[],
            "POST",
            "/v1/candidates",
            Some(json!({"vector": q, "n": 1})),
            Authenticated,
            Setup::None,
        ),
        p(
            "candidates",
            &["user_id"],
            "POST",
            "/v1/candidates",
            Some(json!({"user_id": "user-7", "n": 1})),
            User7,
            Setup::Preference,
        ),
        p(
            "embed",
            &[],
            "POST",
            "/v1/embed",
            Some(json!({"texts": ["animated film for kids about toys"]})),
            Authenticated,
            Setup::None,
        ),
        p(
            "getContent",
            &[],
            "GET",
            "/v1/content/movie-17",
            None,
            Authenticated,
            Setup::None,
        ),
        p(
            "similar",
            &[],
            "GET",
            "/v1/content/movie-17/similar?k=1",
            None,
            Authenticated,
            Setup::None,
        ),
        p(
            "similar",
            &["user_id"],
            "GET",
            "/v1/content/movie-17/similar?k=1&user_id=user-7",
            None,
            User7,
            Setup::None,
        ),
        p(
            "recommend",
            &[],
            "POST",
            "/v1/recommend",
            Some(json!({"positive": ["movie-17"], "k": 1})),
            Authenticated,
            Setup::None,
        ),
        p(
            "recommend",
            &["user_ids"],
            "POST",
            "/v1/recommend",
            Some(json!({"user_ids": ["user-7", "user-8"], "k": 1})),
            Group,
            Setup::Preference,
        ),
        p(
            "upsertContent",
            &[],
            "POST",
            "/v1/content",
            Some(item),
            Write,
            Setup::None,
        ),
        p(
            "deleteContent",
            &[],
            "DELETE",
            "/v1/content/auth-probe",
            None,
            Write,
            Setup::ProbeItem,
        ),
        p(
            "getPreference",
            &[],
            "GET",
            "/v1/users/user-7/preference",
            None,
            User7,
            Setup::Preference,
        ),
        p(
            "putPreference",
            &[],
            "PUT",
            "/v1/users/user-7/preference",
            Some(pref),
            User7,
            Setup::None,
        ),
        p(
            "recordEvent",
            &[],
            "POST",
            "/v1/users/user-7/events",
            Some(json!({"content_id": "movie-17", "completion": 0.5})),
            User7,
            Setup::None,
        ),
        p(
            "deleteUser",
            &[],
            "DELETE",
            "/v1/users/user-7",
            None,
            User7,
            Setup::Preference,
        ),
    ]
}

fn expected(rule: Rule, caller: &Caller) -> u16 {
    let Some((role, user)) = caller.identity else {
        return if matches!(rule, Rule::Public) {
            200
        } else {
            401
        };
    };
    let admin = role == 2;
    match rule {
        Rule::Public | Rule::Authenticated => 200,
        Rule::Write if role >= 1 => 200,
        Rule::User7 if admin || user == Some("user-7") => 200,
        Rule::Group if admin => 200,
        Rule::OwnUser if user.is_some() => 200,
        Rule::OwnUser => 400,
        Rule::Write | Rule::User7 | Rule::Group => 403,
    }
}

/// Every (operationId, user-naming field) the OpenAPI document has: the request body's and the
/// query's `user_id`, `user_ids` and `personalize`.
fn spec_surface(spec: &Value) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut operations = BTreeSet::new();
    let mut fields = BTreeSet::new();
    let naming = ["user_id", "user_ids", "personalize"];
    for (_, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId").to_owned();
            operations.insert(id.clone());
            for param in op["parameters"].as_array().into_iter().flatten() {
                if let Some(name) = param["name"].as_str().filter(|n| naming.contains(n)) {
                    fields.insert((id.clone(), name.to_owned()));
                }
            }
            let mut schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if let Some(r) = schema["$ref"].as_str() {
                let name = r.rsplit('/').next().unwrap();
                schema = &spec["components"]["schemas"][name];
            }
            for (name, _) in schema["properties"].as_object().into_iter().flatten() {
                if naming.contains(&name.as_str()) {
                    fields.insert((id.clone(), name.clone()));
                }
            }
        }
    }
    (operations, fields)
}

fn setup(api: &Api, setup: Setup) {
    let m = movies();
    match setup {
        Setup::None => {}
        Setup::Preference => {
            let pref = json!({"vector": m.vector(5), "confidence": 0.6, "genre_affinities": {}});
            let (status, v) = api.call(
                "PUT",
                "/v1/users/user-7/preference",
                Some(ADMIN_KEY),
                Some(&pref),
            );
            assert_eq!(status, 200, "setup: {v}");
        }
        Setup::ProbeItem => {
            let item = json!({"items": [{"id": "auth-probe", "media_type": "movie", "vector": m.vector(3)}]});
            let (status, v) = api.call("POST", "/v1/content", Some(ADMIN_KEY), Some(&item));
            assert_eq!(status, 200, "setup: {v}");
        }
    }
}

pub(super) fn auth_matrix(api: &Api, target: &Target) {
    let (_, spec) = api.call("GET", "/openapi.json", None, None);
    let (operations, fields) = spec_surface(&spec);
    let probes = probes();
    let probed: BTreeSet<String> = probes.iter().map(|p| p.operation.to_owned()).collect();
    let unprobed: Vec<&String> = operations.difference(&probed).collect();
    assert!(
        unprobed.is_empty(),
        "operations the matrix does not cover: {unprobed:?}"
    );
    let unknown: Vec<&String> = probed.difference(&operations).collect();
    assert!(
        unknown.is_empty(),
        "matrix rows for operations not in the spec: {unknown:?}"
    );
    let probed_fields: BTreeSet<(String, String)> = probes
        .iter()
        .flat_map(|p| {
            p.fields
                .iter()
                .map(|f| (p.operation.to_owned(), f.to_string()))
        })
        .collect();
    let missing: Vec<_> = fields.difference(&probed_fields).collect();
    assert!(
        missing.is_empty(),
        "user-naming fields the matrix does not cover: {missing:?}"
    );

    let callers = callers();
    let mut wrong = Vec::new();
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for probe in &probes {
        for caller in &callers {
            setup(api, probe.setup);
            let mut req = api.client.request(
                probe.method.parse().unwrap(),
                format!("{}{}", api.base, probe.path),
            );
            if let Some(h) = &caller.header {
                req = req.header("authorization", h);
            }
            if let Some(b) = &probe.body {
                req = req.json(b);
            }
            let response = req.send().expect("request");
            let status = response.status().as_u16();
            let body = response.text().unwrap_or_default();
            *counts.entry(status).or_default() += 1;
            let want = expected(probe.rule, caller);
            if status != want {
                wrong.push(format!(
                    "{} {} {:?} as {}: {status}, expected {want}: {body}",
                    probe.method, probe.path, probe.fields, caller.name
                ));
            }
            if status >= 400 {
                // Refusals are JSON errors, and say nothing of any user's data.
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                assert!(
                    v["error"]["code"].is_string(),
                    "{} {}: {body}",
                    probe.method,
                    probe.path
                );
                assert!(
                    !body.contains("confidence") && !body.contains("user-7"),
                    "{body}"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of the matrix's answers differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Leave the content as the other checks expect it.
    api.call("DELETE", "/v1/content/auth-probe", Some(ADMIN_KEY), None);
    eprintln!(
        "[{}] auth matrix: {} operations, {} probes × {} callers = {} requests; statuses {counts:?}",
        target.name,
        operations.len(),
        probes.len(),
        callers.len(),
        probes.len() * callers.len()
    );
}

pub(super) fn cors_and_content_types(api: &Api, _: &Target) {
    let m = movies();
    let body = json!({"vector": m.query("animated film for kids about toys"), "k": 2});
    let preflight = |origin: &str| {
        api.client
            .request(
                "OPTIONS".parse().unwrap(),
                format!("{}/v1/search", api.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .unwrap()
    };
    let ok = preflight(ALLOWED_ORIGIN);
    assert_eq!(ok.status().as_u16(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED_ORIGIN);
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization")
            && allowed.contains("content-type")
            && allowed.contains("if-none-match")
    );
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let other = preflight("http://evil.vecgate.test");
    assert_eq!(other.status().as_u16(), 403);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let r = api
        .client
        .post(format!("{}/v1/search", api.base))
        .bearer_auth(READ_KEY)
        .header("origin", ALLOWED_ORIGIN)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], ALLOWED_ORIGIN);
    assert_eq!(r.headers()["vary"], "Origin");
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("ETag"));
    let r = api
        .client
        .post(format!("{}/v1/search", api.base))
        .bearer_auth(READ_KEY)
        .header("origin", "http://evil.vecgate.test")
        .json(&body)
        .send()
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // A form or a no-cors fetch can send text/plain without a preflight: refused, nothing written.
    let plain = |path: &str, key: &str, text: String| {
        let r = api
            .client
            .post(format!("{}{path}", api.base))
            .bearer_auth(key)
            .header("content-type", "text/plain")
            .body(text)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    let (status, v) = plain("/v1/search", READ_KEY, body.to_string());
    assert_error(status, &v, 415, "a text/plain search");
    let item =
        json!({"items": [{"id": "plain-text-item", "media_type": "movie", "vector": m.vector(1)}]});
    let (status, v) = plain("/v1/content", WRITE_KEY, item.to_string());
    assert_error(status, &v, 415, "a text/plain upsert");
    let (status, _) = api.call("GET", "/v1/content/plain-text-item", Some(READ_KEY), None);
    assert_eq!(status, 404, "the text/plain upsert wrote nothing");
}

pub(super) fn erasure(api: &Api, target: &Target) {
    let m = movies();
    let pref = |i: usize| json!({"vector": m.vector(i), "confidence": 0.4, "genre_affinities": {}});
    for (user, i) in [("erase-me", 11), ("keep-me", 12)] {
        let path = format!("/v1/users/{user}/preference");
        let (status, v) = api.call("PUT", &path, Some(ADMIN_KEY), Some(&pref(i)));
        assert_eq!(status, 200, "{v}");
    }
    let count = |user: &str| {
        (target.logs)()
            .iter()
            .filter(|r| r.user_id.as_deref() == Some(user))
            .count()
    };
    let (erase_before, keep_before) = (count("erase-me"), count("keep-me"));
    let q = m.query("gangster crime drama");
    for _ in 0..3 {
        api.search_as(
            &user_token("erase-me"),
            json!({"vector": q, "k": 3, "personalize": true}),
        );
    }
    for _ in 0..2 {
        api.search_as(&user_token("keep-me"), json!({"vector": q, "k": 3}));
    }
    let total_before = (target.logs)().len();
    assert_eq!(count("erase-me"), erase_before + 3);
    assert_eq!(count("keep-me"), keep_before + 2);

    // Another user, and a service key, may not erase anyone.
    let (status, v) = api.call(
        "DELETE",
        "/v1/users/erase-me",
        Some(&user_token("keep-me")),
        None,
    );
    assert_error(status, &v, 403, "erasing another user");
    let (status, v) = api.call("DELETE", "/v1/users/erase-me", Some(WRITE_KEY), None);
    assert_error(status, &v, 403, "erasing with a service write key");

    let (status, v) = api.call(
        "DELETE",
        "/v1/users/erase-me",
        Some(&user_token("erase-me")),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["deleted"]["preferences"], 1, "{v}");
    assert_eq!(
        v["deleted"]["search_logs"].as_u64(),
        Some((erase_before + 3) as u64),
        "{v}"
    );
    assert_eq!(
        count("erase-me"),
        0,
        "no search-log row of the erased user is left"
    );
    assert_eq!(
        count("keep-me"),
        keep_before + 2,
        "nothing of another user is touched"
    );
    assert_eq!((target.logs)().len(), total_before - erase_before - 3);
    let (status, _) = api.call(
        "GET",
        "/v1/users/erase-me/preference",
        Some(ADMIN_KEY),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = api.call("GET", "/v1/users/keep-me/preference", Some(ADMIN_KEY), None);
    assert_eq!(status, 200);
    // Erasing again finds nothing, and says so.
    let (status, v) = api.call("DELETE", "/v1/users/erase-me", Some(ADMIN_KEY), None);
    assert_eq!(
        (status, v["deleted"]["preferences"].as_u64()),
        (200, Some(0)),
        "{v}"
    );
    let (_, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(
        stats["search_log_count"].as_u64(),
        Some((target.logs)().len() as u64)
    );
}
