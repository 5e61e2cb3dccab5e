//! `kestrel rules test`: every rule's own tests, through the same engine that
//! serves traffic.

use std::path::PathBuf;

use crate::engine::{Engine, Matches};
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
    /// Fields of the post that are not configured text fields: the case was
    /// not run, since scan never reads them.
    pub unread_fields: Vec<String>,
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
                _ if !f.unread_fields.is_empty() => {
                    "the post has fields that scan never reads".to_string()
                }
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

impl Failure {
    /// One line for logs and start-up refusals: where, which rule, what
    /// failed (no post text).
    pub fn line(&self) -> String {
        let what = match self.expect {
            _ if !self.unread_fields.is_empty() => "the post has fields that scan never reads",
            Expect::Match => "a post under tests.match raised no alert",
            Expect::NoMatch => "a post under tests.no_match raised an alert",
            Expect::Severity { .. } => {
                "a post under tests.match raised an alert of another severity"
            }
        };
        format!(
            "{}:{}:{}: error: rule '{}': test failed: {what}",
            self.file.display(),
            self.mark.line,
            self.mark.col,
            self.rule
        )
    }
}

/// Runs every test case of every active and shadow rule of the engine's set.
pub fn run(engine: &Engine) -> Report {
    let mut report = Report::default();
    let mut scratch = engine.new_scratch();
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
            // Scan reads only the configured fields: a test post with any
            // other field would prove something live traffic never shows.
            let unread: Vec<&str> = owned
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| !engine.text_fields().iter().any(|f| f == n))
                .collect();
            if !unread.is_empty() {
                report.failures.push(Failure {
                    rule: rule.id.clone(),
                    file: rule.file.clone(),
                    mark: post.mark,
                    expect,
                    post: owned.clone(),
                    detail: format!(
                        "  field {} is not a configured text field ({}): scan never reads it\n",
                        unread
                            .iter()
                            .map(|n| format!("'{n}'"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        engine.text_fields().join(", ")
                    ),
                    unread_fields: unread.iter().map(|n| n.to_string()).collect(),
                });
                continue;
            }
            let fields: Vec<(&str, &str)> = owned
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            engine.scan(&fields, &mut scratch, &mut matches);
            // A fallback rule superseded by another rule of its category
            // still fired by its own condition: that is what its tests ask.
            let firing = matches
                .firings
                .iter()
                .chain(&matches.superseded)
                .find(|f| f.rule == index);
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
                    unread_fields: Vec::new(),
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
