//! `kestrel rules test`: every rule's own tests, through the same engine that
//! serves traffic.

use std::path::PathBuf;

use crate::engine::{Engine, Matches, Scratch};
use crate::explain::rule_verdict;
use crate::rules::{Mark, Severity, Status, TestPost};

/// Which list a test case is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `tests.match`: the rule must fire.
    Match,
    /// `tests.no_match`: it must not.
    NoMatch,
    /// A `tests.match` post with `expect_severity`: the rule fired with
    /// another severity.
    Severity {
        /// The severity the test asks for.
        expected: Severity,
        /// The alert's severity.
        got: Severity,
    },
}

/// One failing case.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The rule.
    pub rule: String,
    /// The rule file.
    pub file: PathBuf,
    /// Where the case is written.
    pub mark: Mark,
    /// What was expected.
    pub expect: Expect,
    /// The post's fields.
    pub post: Vec<(String, String)>,
    /// Terms matched, condition and unless results.
    pub detail: String,
}

/// The outcome of a test run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Rules whose tests ran.
    pub rules: usize,
    /// Cases run.
    pub cases: usize,
    /// Cases that failed.
    pub failures: Vec<Failure>,
    /// Disabled rules, whose tests were not run.
    pub skipped_rules: Vec<String>,
}

impl Report {
    /// No case failed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// A readable report of every failure and the totals.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.failures {
            let what = match f.expect {
                Expect::Match => "expected an alert, got none".to_string(),
                Expect::NoMatch => "expected no alert, got one".to_string(),
                Expect::Severity { expected, got } => {
                    format!("expected an alert of severity {expected}, got {got}")
                }
            };
            s.push_str(&format!(
                "FAIL {}:{}:{}: rule '{}': {what}\n",
                f.file.display(),
                f.mark.line,
                f.mark.col,
                f.rule
            ));
            for (name, text) in &f.post {
                s.push_str(&format!("  post {name}: {text:?}\n"));
            }
            s.push_str(&f.detail);
        }
        for r in &self.skipped_rules {
            s.push_str(&format!("skipped: rule '{r}' is disabled\n"));
        }
        s.push_str(&format!(
            "{} rules tested, {} disabled rules skipped\nrules: {} passed, {} failed\n",
            self.rules,
            self.skipped_rules.len(),
            self.cases - self.failures.len(),
            self.failures.len()
        ));
        s
    }
}

/// Runs every test case of every active and shadow rule of the engine's set.
pub fn run(engine: &Engine) -> Report {
    let mut report = Report::default();
    let mut scratch = Scratch::new();
    let mut matches = Matches::default();
    let set = engine.rule_set().clone();
    for (index, rule) in set.rules.iter().enumerate() {
        if rule.status == Status::Disabled {
            report.skipped_rules.push(rule.id.clone());
            continue;
        }
        report.rules += 1;
        let cases = rule
            .tests
            .must_match
            .iter()
            .map(|p| (p, Expect::Match))
            .chain(rule.tests.no_match.iter().map(|p| (p, Expect::NoMatch)));
        for (post, expect) in cases {
            report.cases += 1;
            let owned = post_fields(engine, post);
            let fields: Vec<(&str, &str)> = owned
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            engine.scan(&fields, &mut scratch, &mut matches);
            let firing = matches.firings.iter().find(|f| f.rule == index);
            let fired = firing.is_some();
            let expect = match (post.expect_severity, firing) {
                (Some(expected), Some(f)) if f.severity != expected => Expect::Severity {
                    expected,
                    got: f.severity,
                },
                _ => expect,
            };
            if matches!(expect, Expect::Severity { .. }) || fired != (expect == Expect::Match) {
                let detail = rule_verdict(engine, &mut scratch, &fields, index, fired);
                report.failures.push(Failure {
                    rule: rule.id.clone(),
                    file: rule.file.clone(),
                    mark: post.mark,
                    expect,
                    post: owned.clone(),
                    detail,
                });
            }
        }
    }
    report
}

fn post_fields(engine: &Engine, post: &TestPost) -> Vec<(String, String)> {
    post.fields
        .iter()
        .map(|(name, text)| {
            (
                name.clone()
                    .unwrap_or_else(|| engine.default_field().to_string()),
                text.clone(),
            )
        })
        .collect()
}
