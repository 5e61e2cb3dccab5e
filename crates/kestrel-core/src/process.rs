//! One post processor for `kestrel scan` and `kestrel run`: parse a post,
//! scan it, ask the admission (the service's flood guard) about each active
//! alert, and render the alerts.
//!
//! Both commands drive the same [`PostProcessor`]; what differs is only
//! where posts come from and where alerts and bad posts go (lines of a file
//! and stdout/stderr for `scan`, Kafka records for `run`), so a change to
//! parsing, evidence, severity or demotion reaches both.

use std::time::{Duration, Instant};

use crate::alert::{AlertWriter, EvidenceMode, Source};
use crate::engine::{Engine, Firing, Matches, Scratch};
use crate::post::{BadPost, PostSchema};
use crate::rules::{Rule, Severity};

/// The value of the `demoted` member of an alert that an [`Admission`]
/// demoted to shadow (the flood guard).
pub const DEMOTED_BY: &str = "flood_guard";

/// Decides, for each active alert, whether it is published as the rule says
/// or demoted to shadow. The service's flood guard is one; `kestrel scan`
/// uses [`AdmitAll`].
pub trait Admission {
    /// `true`: publish the alert as raised; `false`: demote it to shadow.
    fn admit(&self, rule_id: &str, revision: u32) -> bool;
}

/// Admits every alert: a file scan reports every alert as the rules say.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    fn admit(&self, _rule_id: &str, _revision: u32) -> bool {
        true
    }
}

/// One rendered alert, handed to the caller's sink.
#[derive(Debug)]
#[non_exhaustive]
pub struct RenderedAlert<'a> {
    /// The rule that fired.
    pub rule: &'a Rule,
    /// The alert's severity (escalations applied).
    pub severity: Severity,
    /// The alert is shadow (the rule's status, or a demotion).
    pub shadow: bool,
    /// The admission demoted it (`"demoted": "flood_guard"` in the JSON).
    pub demoted: bool,
    /// The post's id (the Kafka record key of the alert).
    pub post_id: &'a str,
    /// The alert as one JSON object, no newline.
    pub json: &'a [u8],
}

/// What one scanned post produced.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Scanned {
    /// Alerts handed to the sink.
    pub alerts: usize,
    /// Time spent in the engine (parsing and rendering excluded), when the
    /// processor was made with [`PostProcessor::timed`].
    pub scan_time: Option<Duration>,
}

/// Parse, scan, admit and render, with scratch space kept across posts;
/// one per worker thread.
pub struct PostProcessor {
    evidence: EvidenceMode,
    timed: bool,
    scratch: Scratch,
    matches: Matches,
    spare: Vec<(&'static str, &'static str)>,
    buf: Vec<u8>,
}

impl PostProcessor {
    /// A processor whose scratch space starts with `engine`'s (a later
    /// engine, after a reload, rebuilds it on first use).
    pub fn new(engine: &Engine, evidence: EvidenceMode) -> PostProcessor {
        PostProcessor {
            evidence,
            timed: false,
            scratch: engine.new_scratch(),
            matches: Matches::default(),
            spare: Vec::new(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// The same processor, timing each engine scan (the service's scan-time
    /// histogram); a file scan does without the clock reads.
    pub fn timed(mut self) -> PostProcessor {
        self.timed = true;
        self
    }

    /// Processes one post: `Err` says why it is not a post (the caller
    /// dead-letters or reports it, naming its place); `Ok` after every alert
    /// went to `emit`, in rule-set order.
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &mut self,
        engine: &Engine,
        schema: &PostSchema,
        payload: &[u8],
        source: Source<'_>,
        detected_at: &str,
        admission: &dyn Admission,
        emit: &mut dyn FnMut(RenderedAlert<'_>),
    ) -> Result<Scanned, BadPost> {
        let post = schema.parse(payload)?;
        let mut fields = recycle(std::mem::take(&mut self.spare));
        post.field_refs(&mut fields);
        let started = self.timed.then(Instant::now);
        engine.scan(&fields, &mut self.scratch, &mut self.matches);
        let scan_time = started.map(|t| t.elapsed());
        self.spare = recycle(fields);

        let set = engine.rule_set();
        let writer = AlertWriter {
            set,
            evidence: self.evidence,
            detected_at,
        };
        for firing in &self.matches.firings {
            let rule = &set.rules[firing.rule];
            let demoted = !firing.shadow && !admission.admit(&rule.id, rule.revision);
            let demoted_firing;
            let firing: &Firing = if demoted {
                demoted_firing = Firing {
                    shadow: true,
                    ..firing.clone()
                };
                &demoted_firing
            } else {
                firing
            };
            self.buf.clear();
            writer.write_one(
                &mut self.buf,
                &post,
                &self.matches,
                firing,
                source,
                demoted.then_some(DEMOTED_BY),
            );
            emit(RenderedAlert {
                rule,
                severity: firing.severity,
                shadow: firing.shadow,
                demoted,
                post_id: &post.id,
                json: &self.buf,
            });
        }
        Ok(Scanned {
            alerts: self.matches.firings.len(),
            scan_time,
        })
    }
}

/// Empties a vector of borrowed pairs and gives it a new lifetime, keeping
/// its allocation for the next post.
fn recycle<'x, 'y>(mut v: Vec<(&'x str, &'x str)>) -> Vec<(&'y str, &'y str)> {
    v.clear();
    v.into_iter().map(|_| ("", "")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct DemoteAll;
    impl Admission for DemoteAll {
        fn admit(&self, _: &str, _: u32) -> bool {
            false
        }
    }

    fn engine() -> Engine {
        let yaml = "rules:\n  - id: t.join\n    title: t\n    category: recruitment\n    severity: high\n    status: active\n    terms:\n      join: {words: [join]}\n    condition: join\n";
        let loaded =
            crate::rules::load_str(Path::new("t.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
        Engine::build(
            std::sync::Arc::new(loaded.set),
            &crate::engine::EngineOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// (shadow, demoted, JSON) of each alert.
    type Emitted = Vec<(bool, bool, String)>;

    fn run(admission: &dyn Admission, payload: &[u8]) -> (Result<Scanned, BadPost>, Emitted) {
        let engine = engine();
        let schema = PostSchema::new(
            crate::post::Pointer::parse("/id").unwrap(),
            None,
            vec![("text".into(), crate::post::Pointer::parse("/text").unwrap())],
            1 << 20,
        );
        let mut p = PostProcessor::new(&engine, EvidenceMode::Full);
        let mut out = Vec::new();
        let r = p.process(
            &engine,
            &schema,
            payload,
            Source::File { file: "f", line: 1 },
            "2026-01-01T00:00:00Z",
            admission,
            &mut |a| {
                out.push((
                    a.shadow,
                    a.demoted,
                    String::from_utf8(a.json.to_vec()).unwrap(),
                ))
            },
        );
        (r, out)
    }

    #[test]
    fn an_admitted_alert_is_rendered_as_raised() {
        let (r, out) = run(&AdmitAll, br#"{"id":"p1","text":"join us"}"#);
        let scanned = r.unwrap();
        assert_eq!(scanned.alerts, 1);
        assert!(
            scanned.scan_time.is_none(),
            "an untimed processor reads no clock"
        );
        assert_eq!(out.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&out[0].2).unwrap();
        assert_eq!(v["shadow"], false);
        assert!(v.get("demoted").is_none());
        assert!(!out[0].1);
    }

    #[test]
    fn a_demoted_alert_is_shadow_and_names_the_guard_in_valid_json() {
        let (_, out) = run(&DemoteAll, br#"{"id":"p1","text":"join us"}"#);
        assert_eq!(out.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&out[0].2).unwrap();
        assert_eq!(v["shadow"], true);
        assert_eq!(v["demoted"], DEMOTED_BY);
        assert!(out[0].0 && out[0].1);
    }

    #[test]
    fn a_bad_post_is_an_error_and_emits_nothing() {
        let (r, out) = run(&AdmitAll, b"{not json");
        assert!(r.is_err());
        assert!(out.is_empty());
    }
}
