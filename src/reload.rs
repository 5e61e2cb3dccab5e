//! Hot reload: the rules a running service serves with, swapped whole.
//!
//! A new set is loaded, checked, compiled and tested (every rule's own
//! tests) on the reload thread, never on a scan worker; only then is the
//! engine swapped in, atomically. A scan worker takes one engine snapshot per
//! batch, so posts in flight finish with the set they started with and every
//! alert after the swap carries the new `ruleset` hash. A set that fails
//! keeps the old one serving; the failure is logged with its `file:line:col`
//! places and counted.
//!
//! Triggers: a change below the rule directory (debounced, with
//! `[rules] reload = "watch"`) and SIGHUP (`"watch"` or `"signal"`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::engine::{Engine, EngineOptions};
use crate::flood::{FloodGuard, FloodGuardConfig};
use crate::pack::{RulePack, RuleTests};
use crate::shutdown::{Reason, Shutdown};

/// Reload attempts kept for the status page.
const HISTORY: usize = 20;
/// Problems kept per failed attempt.
const PROBLEMS_KEPT: usize = 10;
/// Quiet time after a file event before the reload starts: an editor or a
/// `git checkout` writes several files in a burst.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Why a reload was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A file below the rule directory changed.
    FileChange,
    /// SIGHUP.
    Signal,
    /// Asked for through the API (tests, tools).
    Request,
}

impl Cause {
    /// The name used in logs and on the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::FileChange => "file_change",
            Cause::Signal => "signal",
            Cause::Request => "request",
        }
    }
}

/// How a reload attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new set is serving.
    Swapped {
        /// The set serving before.
        previous: String,
        /// The set serving now.
        ruleset: String,
        /// Rules in the new set.
        rules: usize,
    },
    /// The files load to the set already serving; nothing was swapped.
    Unchanged {
        /// The set serving.
        ruleset: String,
    },
    /// The new set was refused; the old one keeps serving.
    Failed {
        /// What was wrong, `file:line:col: …` where there is a place.
        problems: Vec<String>,
    },
}

impl Outcome {
    /// The `result` label of `kestrel_rules_reloads_total`.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Swapped { .. } => "success",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Failed { .. } => "error",
        }
    }
}

/// One reload attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// When it finished, seconds since the Unix epoch.
    pub at_unix: f64,
    /// What triggered it.
    pub cause: Cause,
    /// How it ended.
    pub outcome: Outcome,
}

/// Reload counts and the recent attempts.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Attempts per result: success, unchanged, error.
    pub success: u64,
    /// See [`History::success`].
    pub unchanged: u64,
    /// See [`History::success`].
    pub error: u64,
    /// When the rules were last loaded or reloaded, whatever the result.
    pub last_attempt_unix: f64,
    /// When a load or reload last succeeded (swapped or unchanged).
    pub last_success_unix: f64,
    /// The latest attempts, newest first.
    pub recent: VecDeque<Attempt>,
}

/// A reload that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file watcher could not be started.
    #[error("watching {dir} for rule changes: {source}")]
    Watch {
        /// The rule directory.
        dir: PathBuf,
        /// What the watcher said.
        source: notify::Error,
    },
    /// The reload thread could not be started.
    #[error("starting the reload thread: {0}")]
    Thread(std::io::Error),
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The rules a running service serves with: the current engine, swapped
/// whole on reload, and the flood guard watching their alert rates.
pub struct ServingRules {
    engine: ArcSwap<Engine>,
    flood: FloodGuard,
    dir: PathBuf,
    options: EngineOptions,
    history: Mutex<History>,
    /// Held for the whole of a reload, so two never interleave.
    reloading: Mutex<()>,
}

impl std::fmt::Debug for ServingRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingRules")
            .field("ruleset", &self.current().ruleset_hash())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ServingRules {
    /// Serves `engine`, loaded from `dir` with `options`; later reloads
    /// read `dir` again with the same options.
    pub fn new(
        engine: Engine,
        dir: &Path,
        options: EngineOptions,
        flood: FloodGuardConfig,
    ) -> ServingRules {
        let flood = FloodGuard::new(flood);
        flood.on_reload(engine.rule_set());
        warn_unknown_overrides(&flood, &engine);
        let now = now_unix();
        ServingRules {
            engine: ArcSwap::from_pointee(engine),
            flood,
            dir: dir.to_path_buf(),
            options,
            history: Mutex::new(History {
                last_attempt_unix: now,
                last_success_unix: now,
                ..History::default()
            }),
            reloading: Mutex::new(()),
        }
    }

    /// Serves `engine` with the default options and no flood guard ceiling
    /// (for tools and tests that never reload).
    pub fn fixed(engine: Engine) -> ServingRules {
        ServingRules::new(
            engine,
            Path::new(""),
            EngineOptions::default(),
            FloodGuardConfig {
                max_alerts_per_window: 0,
                ..FloodGuardConfig::default()
            },
        )
    }

    /// The engine serving now. A batch takes one snapshot and keeps it.
    pub fn current(&self) -> Arc<Engine> {
        self.engine.load_full()
    }

    /// The flood guard.
    pub fn flood(&self) -> &FloodGuard {
        &self.flood
    }

    /// The rule directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reload counts and recent attempts.
    pub fn history(&self) -> History {
        self.lock_history().clone()
    }

    fn lock_history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads, checks, compiles and tests the rule directory, and swaps the
    /// new set in if all of that passes. Blocking and CPU-bound: call it
    /// from the reload thread.
    pub fn reload(&self, cause: Cause) -> Outcome {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let outcome = match self.prepare() {
            Err(problems) => Outcome::Failed { problems },
            Ok(engine) => {
                let current = self.current();
                if engine.ruleset_hash() == current.ruleset_hash() {
                    Outcome::Unchanged {
                        ruleset: current.ruleset_hash().to_string(),
                    }
                } else {
                    let outcome = Outcome::Swapped {
                        previous: current.ruleset_hash().to_string(),
                        ruleset: engine.ruleset_hash().to_string(),
                        rules: engine.rule_set().rules.len(),
                    };
                    let engine = Arc::new(engine);
                    self.engine.store(engine.clone());
                    self.flood.on_reload(engine.rule_set());
                    warn_unknown_overrides(&self.flood, &engine);
                    outcome
                }
            }
        };
        let took_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            Outcome::Swapped {
                previous,
                ruleset,
                rules,
            } => tracing::info!(
                cause = cause.as_str(),
                %ruleset,
                %previous,
                rules,
                took_ms,
                "rules reloaded"
            ),
            Outcome::Unchanged { ruleset } => tracing::info!(
                cause = cause.as_str(),
                %ruleset,
                took_ms,
                "rules reload: unchanged"
            ),
            Outcome::Failed { problems } => {
                for p in problems {
                    tracing::warn!(cause = cause.as_str(), problem = %p, "rules reload problem");
                }
                tracing::error!(
                    cause = cause.as_str(),
                    problems = problems.len(),
                    serving = %self.current().ruleset_hash(),
                    "rules reload failed; the previous rules keep serving"
                );
            }
        }
        let now = now_unix();
        let mut h = self.lock_history();
        match &outcome {
            Outcome::Swapped { .. } => h.success += 1,
            Outcome::Unchanged { .. } => h.unchanged += 1,
            Outcome::Failed { .. } => h.error += 1,
        }
        h.last_attempt_unix = now;
        if !matches!(outcome, Outcome::Failed { .. }) {
            h.last_success_unix = now;
        }
        h.recent.push_front(Attempt {
            at_unix: now,
            cause,
            outcome: outcome.clone(),
        });
        h.recent.truncate(HISTORY);
        outcome
    }

    /// A new engine from the directory, or what is wrong with it: the same
    /// load, lints and rule tests as `kestrel run` at start-up and `kestrel
    /// rules check` (crate::pack).
    fn prepare(&self) -> Result<Engine, Vec<String>> {
        RulePack::load(&self.dir, &self.options, RuleTests::Run)
            .map(|pack| pack.into_parts().0)
            .map_err(|e| {
                let mut lines = e.lines();
                if lines.is_empty() {
                    lines.push(e.to_string());
                }
                keep_first(lines)
            })
    }
}

fn keep_first(mut problems: Vec<String>) -> Vec<String> {
    if problems.len() > PROBLEMS_KEPT {
        let more = problems.len() - PROBLEMS_KEPT;
        problems.truncate(PROBLEMS_KEPT);
        problems.push(format!("… and {more} more"));
    }
    problems
}

fn warn_unknown_overrides(flood: &FloodGuard, engine: &Engine) {
    for id in flood.config().rules.keys() {
        if !engine.rule_set().rules.iter().any(|r| &r.id == id) {
            tracing::warn!(rule_id = %id, "flood_guard.rules names a rule that is not loaded");
        }
    }
}

/// What the reload thread is asked to do.
#[derive(Debug)]
enum Trigger {
    Files,
    Signal,
}

/// The reload thread and, with `reload = "watch"`, its file watcher.
pub struct Reloader {
    tx: crossbeam_channel::Sender<Trigger>,
    /// Ends the reload thread when the reloader is dropped.
    stop: Shutdown,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Reloader {
    /// Starts the reload thread, watching the rule directory when `watch`.
    pub fn start(rules: Arc<ServingRules>, watch: bool) -> Result<Reloader, ReloadError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let watcher = if watch {
            Some(watch_dir(rules.dir(), tx.clone())?)
        } else {
            None
        };
        let stop = Shutdown::new();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kestrel-reload".into())
                .spawn(move || reload_loop(&rules, &rx, &stop))
                .map_err(ReloadError::Thread)?
        };
        Ok(Reloader {
            tx,
            stop,
            thread: Some(thread),
            _watcher: watcher,
        })
    }

    /// Asks for a reload, as SIGHUP does.
    pub fn trigger(&self) {
        let _ = self.tx.send(Trigger::Signal);
    }

    /// A handle that asks for reloads from another thread.
    pub fn trigger_handle(&self) -> ReloadTrigger {
        ReloadTrigger(self.tx.clone())
    }
}

/// Asks the reload thread for a reload (SIGHUP's handler holds one).
#[derive(Clone, Debug)]
pub struct ReloadTrigger(crossbeam_channel::Sender<Trigger>);

impl ReloadTrigger {
    /// Asks for a reload.
    pub fn trigger(&self) {
        let _ = self.0.send(Trigger::Signal);
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop.trigger(Reason::OwnerDone);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch_dir(
    dir: &Path,
    tx: crossbeam_channel::Sender<Trigger>,
) -> Result<notify::RecommendedWatcher, ReloadError> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let err = |source| ReloadError::Watch {
        dir: dir.to_path_buf(),
        source,
    };
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.send(Trigger::Files);
            }
            Err(e) => tracing::warn!(error = %e, "rule directory watcher error"),
        })
        .map_err(err)?;
    watcher.watch(dir, RecursiveMode::Recursive).map_err(err)?;
    Ok(watcher)
}

fn reload_loop(rules: &ServingRules, rx: &crossbeam_channel::Receiver<Trigger>, stop: &Shutdown) {
    loop {
        let first = crossbeam_channel::select! {
            recv(rx) -> t => t,
            recv(stop.channel()) -> _ => return,
        };
        let mut cause = match first {
            Ok(Trigger::Signal) => Cause::Signal,
            Ok(Trigger::Files) => Cause::FileChange,
            Err(_) => return,
        };
        if cause == Cause::FileChange {
            // Wait for the burst to end; a signal meanwhile joins it.
            loop {
                crossbeam_channel::select! {
                    recv(rx) -> t => match t {
                        Ok(Trigger::Files) => {}
                        Ok(Trigger::Signal) => cause = Cause::Signal,
                        Err(_) => return,
                    },
                    recv(stop.channel()) -> _ => return,
                    default(DEBOUNCE) => break,
                }
            }
        }
        rules.reload(cause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_lexicon_file_is_watched_and_reloaded() {
        let d = tempfile::tempdir().unwrap();
        let lexicon = |words: &str| {
            format!("lexicon:\n  language: en\n  concepts:\n    call:\n      words: [{words}]\n")
        };
        std::fs::create_dir_all(d.path().join("lexicons")).unwrap();
        std::fs::write(d.path().join("lexicons/en.yaml"), lexicon("join")).unwrap();
        std::fs::write(
            d.path().join("r.yaml"),
            "rules:\n  - id: r\n    terms:\n      c: {lexicon: call}\n",
        )
        .unwrap();
        let options = EngineOptions::default();
        let loaded = crate::rules::load_dir(d.path()).unwrap();
        let engine = Engine::build(Arc::new(loaded.set), &options).unwrap();
        let serving = Arc::new(ServingRules::new(
            engine,
            d.path(),
            options,
            FloodGuardConfig::default(),
        ));
        let before = serving.current().ruleset_hash().to_string();
        let reloader = Reloader::start(serving.clone(), true).unwrap();
        std::fs::write(d.path().join("lexicons/en.yaml"), lexicon("join, enlist")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while serving.current().ruleset_hash() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(reloader);
        let engine = serving.current();
        assert_ne!(
            engine.ruleset_hash(),
            before,
            "the lexicon change was not reloaded"
        );
        let mut s = engine.new_scratch();
        let mut m = crate::engine::Matches::default();
        engine.scan(&[("text", "enlist")], &mut s, &mut m);
        assert_eq!(m.firings.len(), 1);
    }
}
