//! Lints that need the compiled engine and the configured text fields, on
//! top of what the loader checks. `rules check`, `rules test`, `scan`,
//! `explain` and `run` all take their problems from here, so every command
//! counts the same warnings for the same rules.

use crate::engine::{regex_runs_on_every_post, Engine};
use crate::rules::{Level, Problem, Status, TermKind};

/// Every problem the engine and configuration reveal: errors first is not
/// promised; callers filter on [`Problem::level`].
pub fn lint(engine: &Engine) -> Vec<Problem> {
    let mut out = Vec::new();
    let configured = engine.text_fields();
    for rule in engine.rules_firing_on_empty_posts() {
        // A disabled rule never runs; the engine of `rules check` holds it,
        // the one of `scan` does not, and both must count alike.
        if rule.status == Status::Disabled {
            continue;
        }
        out.push(Problem {
            level: Level::Warning,
            file: rule.file.clone(),
            mark: rule.mark,
            rule: Some(rule.id.clone()),
            message: "the condition holds on a post with no match at all, so the rule fires on nearly every post".into(),
        });
    }
    for rule in &engine.rule_set().rules {
        for term in &rule.terms {
            if let TermKind::Regex(patterns) = &term.kind {
                for p in patterns {
                    if regex_runs_on_every_post(p, term.view) {
                        out.push(Problem {
                            level: Level::Warning,
                            file: rule.file.clone(),
                            mark: term.mark,
                            rule: Some(rule.id.clone()),
                            message: format!(
                                "term '{}': regex '{p}' has no literal of 2 or more characters that every match contains, so it is tried on every post; prefer words and near(), or add a literal",
                                term.name
                            ),
                        });
                    }
                }
            }
        }
        for f in rule.fields.iter().flatten() {
            if !configured.iter().any(|n| n == f) {
                out.push(Problem {
                    level: Level::Warning,
                    file: rule.file.clone(),
                    mark: rule.mark,
                    rule: Some(rule.id.clone()),
                    message: format!("field '{f}' is not one of the configured text fields, so live posts never fill it"),
                });
            }
        }
        let posts = rule.tests.must_match.iter().chain(&rule.tests.no_match);
        for post in posts {
            for name in post.fields.iter().filter_map(|(n, _)| n.as_deref()) {
                if !configured.iter().any(|n| n == name) {
                    out.push(Problem {
                        level: Level::Error,
                        file: rule.file.clone(),
                        mark: post.mark,
                        rule: Some(rule.id.clone()),
                        message: format!(
                            "test post field '{name}' is not a configured text field ({}): scan never reads it, so the test proves nothing",
                            configured.join(", ")
                        ),
                    });
                }
            }
        }
    }
    out
}
