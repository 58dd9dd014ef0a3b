//! Who is asking, and what they may do: one rule for every route.
//!
//! Every request is authenticated into a [`Caller`] before any handler runs: a static API key
//! (compared in constant time against every configured key) or a signed user token (a JWT,
//! [`super::token`]). Then every place a request names a user (a path `{id}`, `user_id` or
//! `personalize` in a search, `user_id` in candidates, `user_ids` in recommend) goes through
//! [`Caller::act_for`]: a caller acts for its own user, an admin for anyone, nobody else for
//! anybody. Handlers receive the user that check returned, never the raw id a client sent.

use crate::config::{ApiKey, Config, Role};
use crate::http::Request;

use super::error::ApiError;
use super::token::{looks_like_jwt, TokenError, TokenVerifier};

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (`/health`, `/openapi.json`).
    Public,
    /// `/metrics`: a key, unless `metrics_public`.
    Metrics,
    Read,
    /// Content writes: a write or admin role.
    Write,
    /// User `{id}`'s own data: that user's key or token, or an admin.
    User,
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// No keys or tokens are configured (loopback or `insecure_open`).
    Open,
    Key,
    Token,
    /// The process itself (`serve --sample`, `import`).
    Internal,
    /// Nobody in particular, on a public route.
    Anonymous,
}

/// The caller, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub role: Role,
    /// The user a token's `sub` or a `key@user` key belongs to.
    pub user: Option<String>,
    pub via: Via,
    /// The index of the configured key that authenticated it.
    pub key: Option<usize>,
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(403, "forbidden", message)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(401, "unauthorized", message)
}

impl Caller {
    pub fn admin(via: Via) -> Caller {
        Caller {
            role: Role::Admin,
            user: None,
            via,
            key: None,
        }
    }

    pub fn anonymous() -> Caller {
        Caller {
            role: Role::Read,
            user: None,
            via: Via::Anonymous,
            key: None,
        }
    }

    /// Who this caller is, for rate limits: its key, its token's user, or its address.
    pub fn rate_key(&self, remote: Option<std::net::IpAddr>) -> String {
        match (self.via, &self.user) {
            (Via::Key, Some(user)) | (Via::Token, Some(user)) => format!("user:{user}"),
            (Via::Key, None) => format!("key:{:?}", self.key),
            _ => remote.map_or_else(|| "anonymous".to_owned(), |ip| format!("ip:{ip}")),
        }
    }

    /// The user this request acts for. `asked` is a user the request names; without one, a
    /// user's own credential acts for that user. Allowed for the user's own key or token and
    /// for admins; a service key acts for no user.
    pub fn act_for(&self, asked: Option<&str>) -> Result<Option<String>, ApiError> {
        match asked {
            None => Ok(self.user.clone()),
            Some(u) if self.role == Role::Admin || self.user.as_deref() == Some(u) => {
                Ok(Some(u.to_owned()))
            }
            Some(_) => Err(forbidden(
                "this credential may not act for that user: only the user's own key or token, \
                 or an admin key, may",
            )),
        }
    }

    /// [`Caller::act_for`] for a request that must name (or be) a user.
    pub fn user_required(&self, asked: Option<&str>, what: &str) -> Result<String, ApiError> {
        self.act_for(asked)?
            .ok_or_else(|| ApiError::bad_request(format!("{what} needs user_id")))
    }

    /// Whether the route's access rule admits this caller; `path_user` is a user route's `{id}`.
    pub fn check(&self, access: Access, path_user: Option<&str>) -> Result<(), ApiError> {
        match access {
            Access::Public | Access::Metrics | Access::Read => Ok(()),
            Access::Write if self.role >= Role::Write => Ok(()),
            Access::Write => Err(forbidden("this endpoint needs a write or admin role")),
            Access::User => self.act_for(path_user).map(|_| ()),
        }
    }
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

/// The configured key presented, and its index.
fn find_key<'a>(keys: &'a [ApiKey], presented: &str) -> Option<(usize, &'a ApiKey)> {
    // No early exit: every key is compared.
    let mut found = None;
    for (i, key) in keys.iter().enumerate() {
        if constant_time_eq(key.secret.as_bytes(), presented.as_bytes()) {
            found = Some((i, key));
        }
    }
    found
}

/// Turns credentials into callers: the configured keys, and the token verifier when tokens are
/// configured.
pub struct Authenticator {
    open: bool,
    keys: Vec<ApiKey>,
    pub tokens: Option<TokenVerifier>,
}

/// Why authentication failed; an unknown `kid` is worth a JWKS refresh and one more try.
pub enum AuthFailure {
    UnknownKey,
    Refused(ApiError),
}

impl Authenticator {
    pub fn new(config: &Config, tokens: Option<TokenVerifier>) -> Authenticator {
        Authenticator {
            open: !config.auth_required(),
            keys: config.api_keys.clone(),
            tokens,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The caller behind the request's `Authorization` header.
    pub fn authenticate(&self, req: &Request) -> Result<Caller, AuthFailure> {
        if self.open {
            return Ok(Caller::admin(Via::Open));
        }
        let refused = |m: &str| AuthFailure::Refused(unauthorized(m));
        let header = req
            .header("authorization")
            .ok_or_else(|| refused("missing Authorization: Bearer <key or token> header"))?;
        let presented = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                refused("malformed Authorization header; expected: Bearer <key or token>")
            })?;
        if let Some((index, key)) = find_key(&self.keys, presented) {
            return Ok(Caller {
                role: key.role,
                user: key.user.clone(),
                via: Via::Key,
                key: Some(index),
            });
        }
        match &self.tokens {
            Some(verifier) if looks_like_jwt(presented) => match verifier.verify(presented) {
                Ok(claims) => Ok(Caller {
                    role: claims.role,
                    user: Some(claims.user),
                    via: Via::Token,
                    key: None,
                }),
                Err(TokenError::UnknownKey) => Err(AuthFailure::UnknownKey),
                Err(e) => Err(refused(e.message())),
            },
            _ => Err(refused("unknown API key")),
        }
    }
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
        let auth = Authenticator::new(&c, None);
        let status = |key: Option<&str>, access, user| {
            let caller = match auth.authenticate(&req(key)) {
                Ok(caller) => caller,
                Err(AuthFailure::Refused(e)) => return e.status,
                Err(AuthFailure::UnknownKey) => return 0,
            };
            caller
                .check(access, user)
                .map(|_| 200)
                .unwrap_or_else(|e| e.status)
        };
        assert_eq!(status(None, Access::Read, None), 401);
        assert_eq!(status(Some("Basic abc"), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer "), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer nope-nope"), Access::Read, None), 401);
        assert_eq!(status(Some("Bearer read-key-1"), Access::Read, None), 200);
        assert_eq!(status(Some("Bearer read-key-1"), Access::Write, None), 403);
        assert_eq!(status(Some("Bearer write-key-1"), Access::Write, None), 200);
        let user = Access::User;
        assert_eq!(status(Some("Bearer read-key-1"), user, Some("user-7")), 403);
        assert_eq!(
            status(Some("Bearer write-key-1"), user, Some("user-7")),
            403
        );
        assert_eq!(status(Some("Bearer user-key-7"), user, Some("user-7")), 200);
        assert_eq!(status(Some("Bearer user-key-7"), user, Some("user-8")), 403);
        assert_eq!(
            status(Some("Bearer admin-key-1"), user, Some("user-8")),
            200
        );
    }

    #[test]
    fn acting_for_a_user() {
        let own = Caller {
            role: Role::Read,
            user: Some("user-7".into()),
            via: Via::Token,
            key: None,
        };
        assert_eq!(own.act_for(None).unwrap().as_deref(), Some("user-7"));
        assert_eq!(
            own.act_for(Some("user-7")).unwrap().as_deref(),
            Some("user-7")
        );
        assert_eq!(own.act_for(Some("user-8")).unwrap_err().status, 403);
        let service = Caller {
            role: Role::Write,
            user: None,
            via: Via::Key,
            key: Some(0),
        };
        assert_eq!(service.act_for(None).unwrap(), None);
        assert_eq!(service.act_for(Some("user-7")).unwrap_err().status, 403);
        let admin = Caller::admin(Via::Key);
        assert_eq!(
            admin.act_for(Some("user-8")).unwrap().as_deref(),
            Some("user-8")
        );
    }

    #[test]
    fn open_when_no_keys_are_configured() {
        let auth = Authenticator::new(&Config::default(), None);
        assert!(auth.is_open());
        assert!(matches!(auth.authenticate(&req(None)), Ok(c) if c.role == Role::Admin));
    }
}
