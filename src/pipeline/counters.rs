//! What the pipeline counts, in one place: every event that a metric will
//! report is counted here and nowhere else, so the metrics endpoint and the
//! status page only have to read these. The pipeline owns them; it knows
//! nothing of who reads them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::post::BadPost;

use super::observed::Observed;
use super::phase::ConsumerPhase;

/// Upper bounds (milliseconds) of the end-to-end latency buckets; the last
/// bucket is everything above.
pub const LATENCY_BOUNDS_MS: &[u64] = &[
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000,
];

/// Counters of a running pipeline. Cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages taken from the input topics.
    pub posts_consumed: AtomicU64,
    /// Bytes of message values taken from the input topics.
    pub bytes_consumed: AtomicU64,
    /// Posts that parsed and were scanned.
    pub posts_scanned: AtomicU64,
    /// Scanned posts that raised at least one alert.
    pub posts_with_alerts: AtomicU64,
    /// Bad posts by reason, indexed like [`BadPost::CODES`].
    pub bad_posts: [AtomicU64; BadPost::CODES.len()],
    /// Alerts the broker acknowledged.
    pub alerts_acked: AtomicU64,
    /// Dead letters the broker acknowledged.
    pub dead_letters_acked: AtomicU64,
    /// Records sent again after a failed delivery.
    pub delivery_retries: AtomicU64,
    /// Posts whose offset was stored (at-least-once) or committed in a
    /// transaction (exactly-once).
    pub posts_finished: AtomicU64,
    /// Transactions committed (exactly-once).
    pub transactions_committed: AtomicU64,
    /// Transactions aborted and rewound (exactly-once).
    pub transactions_aborted: AtomicU64,
    /// Posts taken back after their partition was revoked before they
    /// finished (they are read again by the partition's next owner).
    pub posts_dropped_on_revoke: AtomicU64,
    /// Posts consumed and not finished yet.
    pub in_flight: AtomicU64,
    /// Nanoseconds spent parsing and scanning.
    pub scan_nanos: AtomicU64,
    /// End-to-end latency, message timestamp to finished, per bucket of
    /// [`LATENCY_BOUNDS_MS`] (one more for the overflow).
    pub latency: [AtomicU64; 16],
    /// Sum of the end-to-end latencies observed, milliseconds.
    pub latency_sum_ms: AtomicU64,
    /// Alerts per rule, scan durations, lag and assignment (see
    /// [`Observed`]).
    pub observed: Observed,
    /// Where the at-least-once consumer is (unset in exactly-once).
    pub phase: ConsumerPhase,
}

impl Counters {
    /// Counts a bad post by its reason.
    pub fn bad_post(&self, reason: &BadPost) {
        let i = BadPost::CODES
            .iter()
            .position(|c| *c == reason.code())
            .unwrap_or(0);
        self.bad_posts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Bad posts of every reason.
    pub fn bad_posts_total(&self) -> u64 {
        self.bad_posts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Records one end-to-end latency.
    pub fn observe_latency(&self, latency: Duration) {
        let ms = latency.as_millis() as u64;
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Records the end-to-end latency of posts finished now, from their
    /// message timestamps (milliseconds since the epoch; 0 or less: none).
    pub fn observe_latencies_since(&self, timestamps_ms: &[i64]) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for ts in timestamps_ms.iter().filter(|ts| **ts > 0) {
            self.observe_latency(Duration::from_millis(
                now_ms.saturating_sub(*ts).max(0) as u64
            ));
        }
    }

    /// The latency bucket bound (milliseconds) under which a fraction `q` of
    /// the observations fall; `None` without observations, `u64::MAX` for
    /// the overflow bucket.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }

    /// A one-line summary for logs.
    pub fn snapshot(&self) -> Snapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            posts_consumed: l(&self.posts_consumed),
            posts_scanned: l(&self.posts_scanned),
            bad_posts: self.bad_posts_total(),
            alerts_acked: l(&self.alerts_acked),
            dead_letters_acked: l(&self.dead_letters_acked),
            posts_finished: l(&self.posts_finished),
            in_flight: l(&self.in_flight),
            delivery_retries: l(&self.delivery_retries),
        }
    }
}

/// A copy of the main counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::posts_consumed`].
    pub posts_consumed: u64,
    /// See [`Counters::posts_scanned`].
    pub posts_scanned: u64,
    /// Bad posts of every reason.
    pub bad_posts: u64,
    /// See [`Counters::alerts_acked`].
    pub alerts_acked: u64,
    /// See [`Counters::dead_letters_acked`].
    pub dead_letters_acked: u64,
    /// See [`Counters::posts_finished`].
    pub posts_finished: u64,
    /// See [`Counters::in_flight`].
    pub in_flight: u64,
    /// See [`Counters::delivery_retries`].
    pub delivery_retries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_come_from_the_buckets() {
        let c = Counters::default();
        assert_eq!(c.latency_quantile_ms(0.5), None);
        for _ in 0..98 {
            c.observe_latency(Duration::from_millis(3));
        }
        c.observe_latency(Duration::from_millis(40));
        c.observe_latency(Duration::from_secs(100));
        assert_eq!(c.latency_quantile_ms(0.5), Some(5));
        assert_eq!(c.latency_quantile_ms(0.99), Some(50));
        assert_eq!(c.latency_quantile_ms(1.0), Some(u64::MAX));
    }

    #[test]
    fn bad_posts_are_counted_by_reason() {
        let c = Counters::default();
        c.bad_post(&BadPost::NotJson("x".into()));
        c.bad_post(&BadPost::NoText("/text".into()));
        assert_eq!(c.bad_posts[2].load(Ordering::Relaxed), 1);
        assert_eq!(c.bad_posts_total(), 2);
    }
}
