//! The one clock an invocation reads. It starts at a wall-clock moment and advances with tokio's
//! monotonic time, so a test that pauses tokio's time runs deadlines, leases and the settle wait in
//! virtual time, without sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The moment a run works in: RFC 3339 for tags, epoch seconds for leases and TTLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    pub rfc3339: String,
    pub epoch: u64,
}

/// Epoch seconds as people read them (UTC).
pub fn utc(epoch: u64) -> String {
    rfc3339(epoch)
}

impl Now {
    pub fn at(epoch: u64) -> Self {
        Self { rfc3339: rfc3339(epoch), epoch }
    }

    /// The cap window: the UTC hour, e.g. `2026-11-24T06`.
    pub fn hour(&self) -> &str {
        self.rfc3339.get(..13).unwrap_or(&self.rfc3339)
    }
}

#[derive(Debug, Clone)]
pub struct Clock {
    start_epoch: Duration,
    start: tokio::time::Instant,
}

impl Clock {
    /// The system's wall clock now.
    pub fn system() -> Self {
        Self::starting_at(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
    }

    /// A clock that reads `since_epoch` now (tests).
    pub fn starting_at(since_epoch: Duration) -> Self {
        Self { start_epoch: since_epoch, start: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> Now {
        Now::at(self.since_epoch().as_secs())
    }

    pub fn since_epoch(&self) -> Duration {
        self.start_epoch + self.start.elapsed()
    }

    /// Time until `deadline` (epoch seconds), zero once it has passed.
    pub fn until(&self, deadline: u64) -> Duration {
        Duration::from_secs(deadline).saturating_sub(self.since_epoch())
    }

    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// `2026-11-24T06:15:09Z` for epoch seconds (UTC, proleptic Gregorian calendar).
fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_format_as_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_503_374), "2026-11-24T06:56:14Z");
        assert_eq!(Now::at(1_795_503_374).hour(), "2026-11-24T06");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_clock_advances_with_tokio_time_so_tests_run_in_virtual_time() {
        let clock = Clock::starting_at(Duration::from_secs(1_000));
        assert_eq!(clock.until(1_030), Duration::from_secs(30));
        clock.sleep(Duration::from_secs(3_600)).await;
        assert_eq!(clock.now().epoch, 4_600);
        assert_eq!(clock.until(1_030), Duration::ZERO);
    }
}
