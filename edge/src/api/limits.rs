//! Per-caller rate limits by route class, with governor's GCRA (a well-kept crate: keyed
//! buckets, no background task, and a plain `Instant` clock that builds for the Spin component).
//! `rate_limit_search`, `rate_limit_write` and `rate_limit_embed` are requests per second per
//! caller, with a burst of one second's worth; 0 turns a class off. A caller is its key, its
//! token's user, or (without a credential of its own) its address. A Spin instance lives for one
//! request, so there the platform's limits apply instead.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Config;

/// What a route costs, for its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// search, candidates, similar, recommend.
    Search,
    /// content, preference, events, erasure.
    Write,
    /// text to vectors: the model's CPU.
    Embed,
}

pub struct RateLimits {
    search: Option<DefaultKeyedRateLimiter<String>>,
    write: Option<DefaultKeyedRateLimiter<String>>,
    embed: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_second).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_second(n)))
}

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        RateLimits {
            search: limiter(config.rate_limit_search),
            write: limiter(config.rate_limit_write),
            embed: limiter(config.rate_limit_embed),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok`, or how long `caller` must wait before its next request of `class`.
    pub fn check(&self, class: RouteClass, caller: &str) -> Result<(), Duration> {
        let limiter = match class {
            RouteClass::Search => &self.search,
            RouteClass::Write => &self.write,
            RouteClass::Embed => &self.embed,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if limiter.len() > 100_000 {
            // Idle callers' buckets are full again: forgetting them changes nothing.
            limiter.retain_recent();
        }
        limiter
            .check_key(&caller.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_has_its_own_bucket() {
        let config = Config {
            rate_limit_search: 2,
            rate_limit_embed: 0,
            ..Config::default()
        };
        let limits = RateLimits::new(&config);
        assert!(limits.check(RouteClass::Search, "a").is_ok());
        assert!(limits.check(RouteClass::Search, "a").is_ok());
        let wait = limits.check(RouteClass::Search, "a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limits.check(RouteClass::Search, "b").is_ok(),
            "another caller"
        );
        for _ in 0..100 {
            assert!(
                limits.check(RouteClass::Embed, "a").is_ok(),
                "0 turns a class off"
            );
        }
    }
}
