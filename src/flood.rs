//! The flood guard: a rule whose alerts pass its ceiling within the window
//! is demoted to shadow, so a runaway rule (a too-broad word, a list that
//! lost its anchors) cannot bury reviewers.
//!
//! A demoted rule keeps running and its alerts keep flowing, but marked
//! `"shadow": true` and `"demoted": "flood_guard"`, so nothing is lost and
//! downstream consumers that route on `shadow` stop paging people. The
//! demotion lasts until the rule's revision changes (a reload that brings a
//! new revision of the rule clears it) or an operator resets it
//! (`POST /flood/reset?rule=ID` on the metrics port with the configured
//! `[metrics] reset_token`, or SIGUSR1 for every rule).
//!
//! Only alerts that would reach reviewers count: rules already in shadow are
//! not watched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::rules::RuleSet;

/// The value of the `demoted` member of an alert the flood guard demoted.
pub use kestrel_core::process::DEMOTED_BY;

/// The longest window the guard keeps counts for.
pub const MAX_WINDOW_SECS: u64 = 3600;

/// `[flood_guard]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodGuardConfig {
    /// The window the alerts of a rule are counted over, seconds.
    pub window_secs: u64,
    /// Alerts one rule may raise within the window before it is demoted; 0
    /// turns the guard off for rules without an override.
    pub max_alerts_per_window: u64,
    /// Per-rule ceilings (rule id -> alerts per window; 0: never demoted).
    pub rules: BTreeMap<String, u64>,
}

impl Default for FloodGuardConfig {
    fn default() -> Self {
        FloodGuardConfig {
            window_secs: 60,
            max_alerts_per_window: 500,
            rules: BTreeMap::new(),
        }
    }
}

impl FloodGuardConfig {
    /// Checks the values; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        if self.window_secs == 0 || self.window_secs > MAX_WINDOW_SECS {
            return Err(format!(
                "flood_guard.window_secs must be between 1 and {MAX_WINDOW_SECS}, not {}",
                self.window_secs
            ));
        }
        Ok(())
    }

    /// The ceiling of one rule; `None` when it is never demoted.
    pub fn ceiling(&self, rule_id: &str) -> Option<u64> {
        let c = self
            .rules
            .get(rule_id)
            .copied()
            .unwrap_or(self.max_alerts_per_window);
        (c > 0).then_some(c)
    }
}

/// A demotion in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demotion {
    /// The rule.
    pub rule_id: String,
    /// The revision that was demoted; a reload with another one clears it.
    pub revision: u32,
    /// When, seconds since the Unix epoch.
    pub since_unix: u64,
    /// The ceiling that was passed.
    pub ceiling: u64,
    /// Alerts the rule raised since, all published as shadow.
    pub shadowed_alerts: u64,
}

#[derive(Debug)]
struct RuleRate {
    revision: u32,
    /// Alerts per second of the window, a ring indexed by second.
    slots: Vec<u64>,
    /// The latest second counted.
    last: u64,
    /// The sum of `slots`: alerts within the window ending at `last`.
    total: u64,
    demoted: Option<Demotion>,
}

impl RuleRate {
    fn new(revision: u32, window: u64) -> RuleRate {
        RuleRate {
            revision,
            slots: vec![0; window as usize],
            last: 0,
            total: 0,
            demoted: None,
        }
    }

    /// Counts one alert at second `now` and returns the count over the
    /// window ending at `now`. Amortised O(1): moving on by k seconds
    /// clears k slots (at most the window).
    fn count(&mut self, now: u64) -> u64 {
        let window = self.slots.len() as u64;
        if now > self.last {
            let steps = (now - self.last).min(window);
            for s in 1..=steps {
                let i = ((self.last + s) % window) as usize;
                self.total -= self.slots[i];
                self.slots[i] = 0;
            }
            self.last = now;
        }
        // A clock that steps back counts into the latest second.
        self.slots[(self.last % window) as usize] += 1;
        self.total += 1;
        self.total
    }
}

/// Watches alert rates per rule and demotes runaway rules.
#[derive(Debug)]
pub struct FloodGuard {
    config: FloodGuardConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rates: HashMap<String, RuleRate>,
    /// The revision of every rule of the set serving now.
    revisions: HashMap<String, u32>,
    /// Demotions ever made, per rule, for `kestrel_flood_demotions_total`.
    demotions_total: BTreeMap<String, u64>,
}

/// What happens to one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Published as the rule's status says.
    Publish,
    /// Published as shadow: the rule is demoted.
    Demoted,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl FloodGuard {
    /// A guard with no history.
    pub fn new(config: FloodGuardConfig) -> FloodGuard {
        FloodGuard {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &FloodGuardConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one alert of an active rule and says how to publish it.
    pub fn admit(&self, rule_id: &str, revision: u32) -> Verdict {
        self.admit_at(rule_id, revision, now_unix())
    }

    /// [`FloodGuard::admit`] at a given second (for tests).
    pub fn admit_at(&self, rule_id: &str, revision: u32, now: u64) -> Verdict {
        let Some(ceiling) = self.config.ceiling(rule_id) else {
            return Verdict::Publish;
        };
        let mut state = self.lock();
        let window = self.config.window_secs;
        if state
            .revisions
            .get(rule_id)
            .is_some_and(|current| *current != revision)
        {
            // A post scanned with an engine snapshot from before a reload:
            // it neither counts nor starts a rate of the old revision.
            return match state
                .rates
                .get_mut(rule_id)
                .and_then(|r| r.demoted.as_mut())
            {
                Some(d) => {
                    d.shadowed_alerts += 1;
                    Verdict::Demoted
                }
                None => Verdict::Publish,
            };
        }
        let rate = match state.rates.get_mut(rule_id) {
            Some(r) => r,
            None => state
                .rates
                .entry(rule_id.to_string())
                .or_insert_with(|| RuleRate::new(revision, window)),
        };
        if let Some(d) = &mut rate.demoted {
            d.shadowed_alerts += 1;
            return Verdict::Demoted;
        }
        let in_window = rate.count(now);
        if in_window <= ceiling {
            return Verdict::Publish;
        }
        rate.demoted = Some(Demotion {
            rule_id: rule_id.to_string(),
            revision,
            since_unix: now,
            ceiling,
            shadowed_alerts: 1,
        });
        *state
            .demotions_total
            .entry(rule_id.to_string())
            .or_insert(0) += 1;
        tracing::warn!(
            rule_id,
            revision,
            ceiling,
            window_secs = window,
            "flood guard: rule demoted to shadow"
        );
        Verdict::Demoted
    }

    /// Lifts the demotion of `rule` (every rule when `None`) and forgets its
    /// counts; returns the rules whose demotion was lifted.
    pub fn reset(&self, rule: Option<&str>) -> Vec<String> {
        let mut state = self.lock();
        let mut lifted = Vec::new();
        state.rates.retain(|id, rate| {
            if rule.is_some_and(|r| r != id) {
                return true;
            }
            if rate.demoted.is_some() {
                lifted.push(id.clone());
            }
            false
        });
        lifted.sort();
        for id in &lifted {
            tracing::info!(rule_id = %id, "flood guard: demotion reset by an operator");
        }
        lifted
    }

    /// A new rule set is serving: rules whose revision changed (or that are
    /// gone) start over, and their demotions are lifted.
    pub fn on_reload(&self, set: &RuleSet) {
        let revisions: HashMap<String, u32> = set
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.revision))
            .collect();
        let mut state = self.lock();
        state.rates.retain(|id, rate| {
            let keep = revisions.get(id) == Some(&rate.revision);
            if !keep && rate.demoted.is_some() {
                tracing::info!(
                    rule_id = %id,
                    demoted_revision = rate.revision,
                    revision = revisions.get(id).copied(),
                    "flood guard: demotion cleared by a new revision"
                );
            }
            keep
        });
        state.revisions = revisions;
    }

    /// The demotions in force, by rule id.
    pub fn demotions(&self) -> Vec<Demotion> {
        let state = self.lock();
        let mut out: Vec<Demotion> = state
            .rates
            .values()
            .filter_map(|r| r.demoted.clone())
            .collect();
        out.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        out
    }

    /// Whether `rule_id` is demoted now.
    pub fn is_demoted(&self, rule_id: &str) -> bool {
        self.lock()
            .rates
            .get(rule_id)
            .is_some_and(|r| r.demoted.is_some())
    }

    /// Demotions made since start, per rule.
    pub fn demotions_total(&self) -> BTreeMap<String, u64> {
        self.lock().demotions_total.clone()
    }
}

/// The flood guard decides for the post processor: an alert past its rule's
/// ceiling is demoted to shadow.
impl kestrel_core::process::Admission for FloodGuard {
    fn admit(&self, rule_id: &str, revision: u32) -> bool {
        FloodGuard::admit(self, rule_id, revision) == Verdict::Publish
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(window: u64, max: u64) -> FloodGuard {
        FloodGuard::new(FloodGuardConfig {
            window_secs: window,
            max_alerts_per_window: max,
            rules: BTreeMap::from([("quiet.rule".to_string(), 2), ("free.rule".to_string(), 0)]),
        })
    }

    #[test]
    fn a_rule_is_demoted_once_it_passes_its_ceiling_within_the_window() {
        let g = guard(10, 3);
        for _ in 0..3 {
            assert_eq!(g.admit_at("r", 1, 100), Verdict::Publish);
        }
        assert_eq!(g.admit_at("r", 1, 105), Verdict::Demoted);
        assert_eq!(g.admit_at("r", 1, 500), Verdict::Demoted, "stays demoted");
        assert!(g.is_demoted("r"));
        let d = g.demotions();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].revision, d[0].since_unix, d[0].ceiling), (1, 105, 3));
        assert_eq!(d[0].shadowed_alerts, 2);
        assert_eq!(g.demotions_total().get("r"), Some(&1));
    }

    #[test]
    fn the_window_slides_by_the_second() {
        let g = guard(10, 3);
        assert_eq!(g.admit_at("r", 1, 1000), Verdict::Publish);
        assert_eq!(g.admit_at("r", 1, 1005), Verdict::Publish);
        assert_eq!(g.admit_at("r", 1, 1009), Verdict::Publish);
        // 1000 has left the window [1001, 1010]: three in it again.
        assert_eq!(g.admit_at("r", 1, 1010), Verdict::Publish);
        // [1005, 1014] holds 1005, 1009, 1010 and this one.
        assert_eq!(g.admit_at("r", 1, 1014), Verdict::Demoted);
    }

    #[test]
    fn alerts_spread_wider_than_the_window_never_demote() {
        let g = guard(10, 3);
        for t in 0..100 {
            assert_eq!(g.admit_at("r", 1, t * 4), Verdict::Publish, "at {t}");
        }
        assert!(!g.is_demoted("r"));
    }

    #[test]
    fn per_rule_overrides_and_zero_ceilings() {
        let g = guard(10, 3);
        assert_eq!(g.admit_at("quiet.rule", 1, 0), Verdict::Publish);
        assert_eq!(g.admit_at("quiet.rule", 1, 0), Verdict::Publish);
        assert_eq!(g.admit_at("quiet.rule", 1, 0), Verdict::Demoted);
        for _ in 0..1000 {
            assert_eq!(g.admit_at("free.rule", 1, 0), Verdict::Publish);
        }
        let off = FloodGuard::new(FloodGuardConfig {
            max_alerts_per_window: 0,
            ..FloodGuardConfig::default()
        });
        for _ in 0..1000 {
            assert_eq!(off.admit_at("r", 1, 0), Verdict::Publish);
        }
    }

    #[test]
    fn a_new_revision_clears_the_demotion_and_the_same_revision_keeps_it() {
        let g = guard(10, 1);
        g.admit_at("a", 1, 0);
        g.admit_at("b", 1, 0);
        assert_eq!(g.admit_at("a", 1, 0), Verdict::Demoted);
        assert_eq!(g.admit_at("b", 1, 0), Verdict::Demoted);
        let set = crate::rules::load_str(
            std::path::Path::new("r.yaml"),
            "rules:\n  - id: a\n    revision: 2\n    title: A\n    category: other\n    severity: low\n    terms:\n      t: {words: [x]}\n  - id: b\n    revision: 1\n    title: B\n    category: other\n    severity: low\n    terms:\n      t: {words: [y]}\n",
        )
        .unwrap()
        .set;
        g.on_reload(&set);
        assert!(!g.is_demoted("a"), "revision 2 starts over");
        assert!(g.is_demoted("b"), "same revision stays demoted");
        assert_eq!(g.admit_at("a", 2, 1), Verdict::Publish);
        // A post still in flight with the old engine is shadowed only while
        // its rule is demoted, and never counts.
        assert_eq!(g.admit_at("b", 0, 1), Verdict::Demoted);
        for _ in 0..5 {
            assert_eq!(g.admit_at("a", 1, 1), Verdict::Publish);
        }
        assert_eq!(
            g.admit_at("a", 2, 1),
            Verdict::Demoted,
            "the new revision has its own count"
        );
    }

    #[test]
    fn an_operator_reset_lifts_one_rule_or_all() {
        let g = guard(10, 1);
        for r in ["a", "b", "c"] {
            g.admit_at(r, 1, 0);
            g.admit_at(r, 1, 0);
        }
        assert_eq!(g.reset(Some("b")), vec!["b".to_string()]);
        assert!(g.is_demoted("a") && !g.is_demoted("b") && g.is_demoted("c"));
        assert_eq!(g.admit_at("b", 1, 0), Verdict::Publish, "counts start over");
        assert_eq!(g.reset(None), vec!["a".to_string(), "c".to_string()]);
        assert!(g.demotions().is_empty());
        assert_eq!(g.demotions_total().get("a"), Some(&1));
    }

    #[test]
    fn window_bounds_are_checked() {
        let mut c = FloodGuardConfig::default();
        c.check().unwrap();
        c.window_secs = 0;
        assert!(c.check().unwrap_err().contains("flood_guard.window_secs"));
        c.window_secs = MAX_WINDOW_SECS + 1;
        assert!(c.check().is_err());
    }

    #[test]
    fn the_section_reads_from_the_configuration_file_and_the_environment() {
        let c = crate::config::Config::from_toml(
            "[flood_guard]\nwindow_secs = 30\n[flood_guard.rules]\n\"fin.x\" = 7\n",
            std::path::Path::new("k.toml"),
            vec![(
                "KESTREL_FLOOD_GUARD__MAX_ALERTS_PER_WINDOW".to_string(),
                "9".to_string(),
            )],
        )
        .unwrap();
        assert_eq!(c.flood_guard.window_secs, 30);
        assert_eq!(c.flood_guard.max_alerts_per_window, 9);
        assert_eq!(c.flood_guard.ceiling("fin.x"), Some(7));
        assert_eq!(c.flood_guard.ceiling("other"), Some(9));
        let e = crate::config::Config::from_toml(
            "[flood_guard]\nwindow_secs = 0\n",
            std::path::Path::new("k.toml"),
            Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("flood_guard.window_secs"), "{e}");
        let e = crate::config::Config::from_toml(
            "[flood_guard]\nwindow = 5\n",
            std::path::Path::new("k.toml"),
            Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("k.toml:2:1"),
            "unknown keys are errors: {e}"
        );
        // The printed configuration carries the section and reads back.
        let printed = c.to_masked_toml();
        let back =
            crate::config::Config::from_toml(&printed, std::path::Path::new("p"), Vec::new())
                .unwrap();
        assert_eq!(back.flood_guard, c.flood_guard);
    }
}
