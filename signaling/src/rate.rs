//! The rate limit of one socket: a token bucket, and the count of refusals in a row after which the client is
//! flooding and its socket is closed.

use std::time::Instant;

/// What the rate limit says of one more message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; `tell` when the client should hear of it (the first refusal, then every hundredth).
    Refused {
        tell: bool,
    },
    /// Refused once too often in a row.
    Flood,
}

pub struct RateLimit {
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(burst: f64) -> Self {
        Self { tokens: burst, last: Instant::now(), refused_in_a_row: 0 }
    }

    /// Takes a token for one message: `rate` per second sustained, `burst` at most, a flood after `flood_after`
    /// refusals in a row.
    pub fn take(&mut self, rate: f64, burst: f64, flood_after: u32) -> Verdict {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Verdict::Allowed;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= flood_after {
            Verdict::Flood
        } else {
            Verdict::Refused { tell: self.refused_in_a_row == 1 || self.refused_in_a_row.is_multiple_of(100) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_refusals_are_told_sparingly_until_a_flood() {
        let mut limit = RateLimit::new(3.0);
        for _ in 0..3 {
            assert_eq!(limit.take(0.001, 3.0, 250), Verdict::Allowed);
        }
        assert_eq!(limit.take(0.001, 3.0, 250), Verdict::Refused { tell: true });
        assert_eq!(limit.take(0.001, 3.0, 250), Verdict::Refused { tell: false });
        let told = (3..250).filter(|_| limit.take(0.001, 3.0, 250) == Verdict::Refused { tell: true }).count();
        assert_eq!(told, 2, "the 100th and the 200th");
        assert_eq!(limit.take(0.001, 3.0, 250), Verdict::Flood);
    }

    #[test]
    fn an_allowed_message_ends_a_run_of_refusals() {
        let mut limit = RateLimit::new(1.0);
        assert_eq!(limit.take(1.0, 1.0, 3), Verdict::Allowed);
        assert_eq!(limit.take(1.0, 1.0, 3), Verdict::Refused { tell: true });
        assert_eq!(limit.take(1.0, 1.0, 3), Verdict::Refused { tell: false });
        limit.tokens = 1.0;
        assert_eq!(limit.take(1.0, 1.0, 3), Verdict::Allowed);
        assert_eq!(limit.take(1.0, 1.0, 3), Verdict::Refused { tell: true }, "counted afresh");
    }
}
