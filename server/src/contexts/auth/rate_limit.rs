//! Attempt limits (sign-in, sign-up, password reset requests, current-password checks), per
//! client address and per email or account (GCRA via `governor`).

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AuthError;

/// Keys kept before idle ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// One pair of keyed limiters (address, email) for one kind of attempt.
pub struct AttemptLimiter {
    by_address: DefaultKeyedRateLimiter<String>,
    by_email: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl AttemptLimiter {
    pub fn per_minute(limit: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(limit.max(1)).expect("max(1) is non-zero"));
        Self::with_quota(quota)
    }

    /// `limit` attempts an hour, the first `limit` of them at once (mails are not to be sent
    /// every few minutes all day).
    pub fn per_hour(limit: u32) -> Self {
        let quota = Quota::per_hour(NonZeroU32::new(limit.max(1)).expect("max(1) is non-zero"));
        Self::with_quota(quota)
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            by_address: RateLimiter::keyed(quota),
            by_email: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt; refuses with the number of seconds until the next one is allowed.
    pub fn check(&self, address: Option<&str>, email: &str) -> Result<(), AuthError> {
        self.sweep();
        if let Some(address) = address {
            if let Err(not_until) = self.by_address.check_key(&address.to_string()) {
                return Err(self.refusal(not_until.wait_time_from(self.clock.now())));
            }
        }
        if let Err(not_until) = self.by_email.check_key(&email.to_string()) {
            return Err(self.refusal(not_until.wait_time_from(self.clock.now())));
        }
        Ok(())
    }

    fn refusal(&self, wait: std::time::Duration) -> AuthError {
        AuthError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    fn sweep(&self) {
        for limiter in [&self.by_address, &self.by_email] {
            if limiter.len() > SWEEP_ABOVE {
                limiter.retain_recent();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_by_address_and_by_email() {
        let limiter = AttemptLimiter::per_minute(2);
        assert!(limiter.check(Some("1.1.1.1"), "a@x").is_ok());
        assert!(limiter.check(Some("1.1.1.1"), "b@x").is_ok());
        // Third attempt from the same address, whatever the email.
        match limiter.check(Some("1.1.1.1"), "c@x") {
            Err(AuthError::RateLimited { retry_after_secs }) => {
                assert!((1..=60).contains(&retry_after_secs))
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // Same email from other addresses.
        assert!(limiter.check(Some("2.2.2.2"), "a@x").is_ok());
        assert!(matches!(
            limiter.check(Some("3.3.3.3"), "a@x"),
            Err(AuthError::RateLimited { .. })
        ));
    }

    #[test]
    fn an_hourly_limit_says_minutes_not_seconds() {
        let limiter = AttemptLimiter::per_hour(2);
        assert!(limiter.check(None, "a@x").is_ok());
        assert!(limiter.check(None, "a@x").is_ok());
        match limiter.check(None, "a@x") {
            Err(AuthError::RateLimited { retry_after_secs }) => {
                assert!(
                    (1000..=1800).contains(&retry_after_secs),
                    "{retry_after_secs}"
                )
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }
}
