//! The one way a part of `kestrel run` is told to stop.
//!
//! A [`Shutdown`] is a one-shot broadcast: cheap to clone, triggered once
//! (the first reason is kept), and every holder can check it, block on it
//! with a bound, select on it beside other channels, or await it on the
//! async runtime, without polling. The binary's signal thread triggers the
//! run's shutdown on SIGTERM or SIGINT; the pipeline passes clones to its
//! threads, and uses further instances of the same type for the later
//! stages of its own stop (pending sends giving up, the retry thread
//! ending).

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why a stop was requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// SIGTERM or SIGINT, by name.
    Signal(&'static str),
    /// Asked for through the API (tests, tools that run the pipeline).
    Requested,
    /// The drain of a stopping pipeline is over, finished or out of time:
    /// what still waits gives up.
    DrainOver,
    /// The owner of a helper thread is done with it.
    OwnerDone,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signal(name) => f.write_str(name),
            Reason::Requested => f.write_str("requested"),
            Reason::DrainOver => f.write_str("drain over"),
            Reason::OwnerDone => f.write_str("owner done"),
        }
    }
}

/// A stop request that every thread and task of a run holds a clone of.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    reason: OnceLock<Reason>,
    /// Dropped when triggered: every receiver of `closed` then sees the
    /// channel disconnected, which is what the blocking waits wait for.
    closer: Mutex<Option<crossbeam_channel::Sender<Infallible>>>,
    closed: crossbeam_channel::Receiver<Infallible>,
    /// The same news for the async side.
    watch: tokio::sync::watch::Sender<bool>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("reason", &self.reason())
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A shutdown not requested yet.
    pub fn new() -> Shutdown {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let (watch, _) = tokio::sync::watch::channel(false);
        Shutdown {
            inner: Arc::new(Inner {
                reason: OnceLock::new(),
                closer: Mutex::new(Some(tx)),
                closed: rx,
                watch,
            }),
        }
    }

    /// Requests the stop and wakes every waiter. True for the first
    /// request; a later one changes nothing (the first reason is kept).
    pub fn trigger(&self, reason: Reason) -> bool {
        if self.inner.reason.set(reason).is_err() {
            return false;
        }
        drop(
            self.inner
                .closer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        self.inner.watch.send_replace(true);
        true
    }

    /// Whether the stop was requested.
    pub fn is_triggered(&self) -> bool {
        self.inner.reason.get().is_some()
    }

    /// Why the stop was requested, once it was.
    pub fn reason(&self) -> Option<Reason> {
        self.inner.reason.get().copied()
    }

    /// Blocks until the stop is requested or `timeout` passes; true if it
    /// was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // Nothing is ever sent: the only way out before the timeout is the
        // disconnection that `trigger` causes.
        let _ = self.inner.closed.recv_timeout(timeout);
        self.is_triggered()
    }

    /// A channel that disconnects when the stop is requested, for waiting
    /// on it beside other channels in `crossbeam_channel::select!`.
    pub fn channel(&self) -> &crossbeam_channel::Receiver<Infallible> {
        &self.inner.closed
    }

    /// Resolves once the stop is requested (the async side's wait).
    pub async fn triggered(&self) {
        let mut rx = self.inner.watch.subscribe();
        // The sender lives as long as `self`: this returns only once true.
        let _ = rx.wait_for(|requested| *requested).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_trigger_wakes_a_blocked_wait_at_once_and_keeps_the_first_reason() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(10)));
        let waiter = {
            let s = shutdown.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (s.wait_timeout(Duration::from_secs(30)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(shutdown.trigger(Reason::Signal("SIGTERM")));
        assert!(
            !shutdown.trigger(Reason::Requested),
            "only the first counts"
        );
        let (woken, waited) = waiter.join().unwrap();
        assert!(woken);
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
        assert_eq!(shutdown.reason(), Some(Reason::Signal("SIGTERM")));
        assert!(shutdown.is_triggered());
        assert!(shutdown.wait_timeout(Duration::ZERO));
    }

    #[test]
    fn the_async_wait_resolves_on_a_trigger_from_another_thread() {
        let shutdown = Shutdown::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let s = shutdown.clone();
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.trigger(Reason::Requested)
        });
        let woken = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), shutdown.triggered())
                .await
                .is_ok()
        });
        assert!(trigger.join().unwrap());
        assert!(woken);
        // Already triggered: resolves at once.
        runtime.block_on(shutdown.triggered());
    }

    #[test]
    fn a_select_sees_the_trigger_beside_another_channel() {
        let shutdown = Shutdown::new();
        let (_tx, rx) = crossbeam_channel::unbounded::<u32>();
        let s = shutdown.clone();
        std::thread::spawn(move || s.trigger(Reason::OwnerDone));
        let started = Instant::now();
        crossbeam_channel::select! {
            recv(rx) -> _ => panic!("nothing was sent"),
            recv(shutdown.channel()) -> _ => {}
            default(Duration::from_secs(30)) => panic!("the trigger was not seen"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(shutdown.reason(), Some(Reason::OwnerDone));
    }
}
