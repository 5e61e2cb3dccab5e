//! The phases of the at-least-once consumer, and the one place it moves
//! between them.
//!
//! ```text
//! Starting ──▶ Consuming ◀──▶ Paused            (in-flight bound)
//!    │            │  ▲
//!    │            ▼  │
//!    │         Rebalancing                      (draining revoked partitions)
//!    │            │
//!    ▼            ▼
//! Stopped ◀── Closing ◀── Committing ◀── Draining   (stop or fatal error)
//! ```
//!
//! Every change goes through [`ConsumerPhase::enter`], which checks it
//! against [`Phase::can_become`] and logs it at debug; the metrics endpoint
//! and the status page read the phase from there.

use std::sync::atomic::{AtomicU8, Ordering};

/// Where the at-least-once consumer is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Creating the clients, waiting for the broker, subscribing.
    Starting = 1,
    /// Polling and handing posts to the workers.
    Consuming,
    /// At the in-flight bound: not polling until a quarter of the posts in
    /// flight are finished.
    Paused,
    /// Partitions are being revoked: finishing (bounded) what was taken
    /// from them before giving them up.
    Rebalancing,
    /// A stop (or a fatal error) was seen: no more polling; finishing the
    /// posts in flight within the shutdown bound.
    Draining,
    /// Committing the final offsets.
    Committing,
    /// Giving up pending sends, flushing the producer, leaving the group.
    Closing,
    /// Done.
    Stopped,
}

impl Phase {
    /// Every phase, in life order.
    pub const ALL: [Phase; 8] = [
        Phase::Starting,
        Phase::Consuming,
        Phase::Paused,
        Phase::Rebalancing,
        Phase::Draining,
        Phase::Committing,
        Phase::Closing,
        Phase::Stopped,
    ];

    /// The name in logs, metrics and the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Consuming => "consuming",
            Phase::Paused => "paused",
            Phase::Rebalancing => "rebalancing",
            Phase::Draining => "draining",
            Phase::Committing => "committing",
            Phase::Closing => "closing",
            Phase::Stopped => "stopped",
        }
    }

    /// Whether the consumer may go from `self` to `to`.
    pub fn can_become(self, to: Phase) -> bool {
        use Phase::*;
        matches!(
            (self, to),
            (Starting, Consuming | Stopped)
                | (Consuming, Paused | Rebalancing | Draining)
                | (Paused, Consuming | Rebalancing | Draining)
                | (Rebalancing, Consuming | Paused)
                | (Draining, Committing)
                | (Committing, Closing)
                | (Closing, Stopped)
        )
    }

    fn from_u8(v: u8) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| *p as u8 == v)
    }
}

/// The current phase, shared by the consumer thread (which moves it) and
/// whoever reports it. Unset until an at-least-once consumer starts.
#[derive(Debug, Default)]
pub struct ConsumerPhase(AtomicU8);

impl ConsumerPhase {
    /// The phase now; `None` before an at-least-once consumer started.
    pub fn get(&self) -> Option<Phase> {
        Phase::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Moves to `to` and returns the phase it left. A move the table does
    /// not allow is a bug: it is logged as a warning and made anyway, so
    /// the phase reported is always the real one.
    pub fn enter(&self, to: Phase) -> Option<Phase> {
        let from = Phase::from_u8(self.0.swap(to as u8, Ordering::AcqRel));
        match from {
            Some(from) if from == to => {}
            Some(from) if from.can_become(to) => {
                tracing::debug!(from = from.as_str(), to = to.as_str(), "consumer phase");
            }
            None if to == Phase::Starting => {
                tracing::debug!(to = to.as_str(), "consumer phase");
            }
            _ => tracing::warn!(
                from = from.map_or("unset", Phase::as_str),
                to = to.as_str(),
                "unexpected consumer phase change"
            ),
        }
        from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_goes_through_draining_committing_and_closing() {
        let phase = ConsumerPhase::default();
        assert_eq!(phase.get(), None);
        for p in [
            Phase::Starting,
            Phase::Consuming,
            Phase::Paused,
            Phase::Rebalancing,
            Phase::Paused,
            Phase::Consuming,
            Phase::Draining,
            Phase::Committing,
            Phase::Closing,
            Phase::Stopped,
        ] {
            let from = phase.get();
            phase.enter(p);
            assert!(
                from.is_none() || from.unwrap().can_become(p),
                "{from:?} -> {p:?}"
            );
            assert_eq!(phase.get(), Some(p));
        }
    }

    #[test]
    fn no_phase_skips_the_drain_or_leaves_stopped() {
        use Phase::*;
        assert!(!Consuming.can_become(Committing));
        assert!(!Consuming.can_become(Stopped));
        assert!(!Rebalancing.can_become(Draining));
        assert!(!Closing.can_become(Rebalancing));
        for p in Phase::ALL {
            assert!(!Stopped.can_become(p), "stopped -> {p:?}");
        }
        // Every phase is reachable from Starting.
        let mut seen = vec![Starting];
        let mut i = 0;
        while i < seen.len() {
            for p in Phase::ALL {
                if seen[i].can_become(p) && !seen.contains(&p) {
                    seen.push(p);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), Phase::ALL.len());
    }
}
