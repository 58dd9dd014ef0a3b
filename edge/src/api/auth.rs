//! Bearer-key authentication. Keys are compared in constant time, against every configured key,
//! so neither a key's content nor its position is revealed by timing.

use crate::config::{ApiKey, Config, Role};
use crate::http::Request;

use super::error::ApiError;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Read,
    Write,
    /// The preference of user `{id}`: an admin key, or a key scoped to that user.
    UserPreference,
}

/// The caller, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub role: Role,
    pub user: Option<String>,
}

/// Constant-time equality: the time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as u64;
    }
    diff == 0
}

fn find_key<'a>(keys: &'a [ApiKey], presented: &str) -> Option<&'a ApiKey> {
    // No early exit: every key is compared.
    let mut found = None;
    for key in keys {
        if constant_time_eq(key.secret.as_bytes(), presented.as_bytes()) {
            found = Some(key);
        }
    }
    found
}

/// Checks the request's key against what the route needs. `user` is the `{id}` of user routes.
pub fn authorize(
    config: &Config,
    req: &Request,
    access: Access,
    user: Option<&str>,
) -> Result<Option<Caller>, ApiError> {
    if access == Access::Public {
        return Ok(None);
    }
    if !config.auth_required() {
        return Ok(Some(Caller {
            role: Role::Admin,
            user: None,
        }));
    }
    let header = req.header("authorization").ok_or_else(|| {
        ApiError::new(
            401,
            "unauthorized",
            "missing Authorization: Bearer <key> header",
        )
    })?;
    let presented = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                401,
                "unauthorized",
                "malformed Authorization header; expected: Bearer <key>",
            )
        })?;
    let key = find_key(&config.api_keys, presented)
        .ok_or_else(|| ApiError::new(401, "unauthorized", "unknown API key"))?;
    let forbidden = |m: &str| Err(ApiError::new(403, "forbidden", m));
    let scoped_elsewhere = key.user.is_some() && key.user.as_deref() != user;
    match access {
        Access::Public => unreachable!("handled above"),
        Access::Read => {}
        Access::Write if key.role < Role::Write => {
            return forbidden("this endpoint needs a write key");
        }
        Access::Write if key.user.is_some() && (user.is_none() || scoped_elsewhere) => {
            return forbidden("this key is scoped to one user's routes");
        }
        Access::Write => {}
        Access::UserPreference => {
            let own = key.user.is_some() && !scoped_elsewhere;
            if !(own || key.role == Role::Admin) {
                return forbidden(
                    "reading a user's preference needs an admin key or that user's key",
                );
            }
        }
    }
    Ok(Some(Caller {
        role: key.role,
        user: key.user.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    #[test]
    fn constant_time_eq_is_correct() {
        assert!(constant_time_eq(b"abcdefgh", b"abcdefgh"));
        assert!(!constant_time_eq(b"abcdefgh", b"abcdefgx"));
        assert!(!constant_time_eq(b"abcdefgh", b"abcdefg"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    fn config() -> Config {
        Config::from_lookup(|k| match k {
            "api_keys_read" => Some("read-key-1,user-key-7@user-7".into()),
            "api_keys_write" => Some("write-key-1".into()),
            "api_keys_admin" => Some("admin-key-1".into()),
            _ => None,
        })
        .unwrap()
    }

    fn req(auth: Option<&str>) -> Request {
        let mut r = Request::new(Method::Get, "/v1/stats");
        if let Some(a) = auth {
            r.headers.push(("authorization".into(), a.into()));
        }
        r
    }

    #[test]
    fn matrix() {
        let c = config();
        let status = |auth: Option<&str>, access, user| {
            authorize(&c, &req(auth), access, user)
                .map(|_| 200)
                .unwrap_or_else(|e| e.status)
        };
        assert_eq!(status(None, Access::Public, None), 200);
        assert_eq!(status(None, Access::Read, None), 401);
        assert_eq!(status(Some("Basic abc"), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer "), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer nope-nope"), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer read-key-1"), Access::Read, None), 200);
        assert_eq!(status(Some("Bearer read-key-1"), Access::Write, None), 403);
        assert_eq!(status(Some("Bearer write-key-1"), Access::Write, None), 200);
        let pref = Access::UserPreference;
        assert_eq!(status(Some("Bearer read-key-1"), pref, Some("user-7")), 403);
        assert_eq!(
            status(Some("Bearer write-key-1"), pref, Some("user-7")),
            403
        );
        assert_eq!(status(Some("Bearer user-key-7"), pref, Some("user-7")), 200);
        assert_eq!(status(Some("Bearer user-key-7"), pref, Some("user-8")), 403);
        assert_eq!(
            status(Some("Bearer admin-key-1"), pref, Some("user-8")),
            200
        );
    }

    #[test]
    fn open_when_no_keys_are_configured() {
        let c = Config::default();
        assert!(authorize(&c, &req(None), Access::Write, None).is_ok());
    }
}
