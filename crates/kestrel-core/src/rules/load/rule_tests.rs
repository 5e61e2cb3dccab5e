//! A rule's own `tests:`, posts that must and must not raise an alert.

use std::path::Path;

use super::{suggest, Ctx};
use crate::rules::yaml::{Mark, Node, Value};
use crate::rules::{RuleTests, Severity, TestPost};

impl Ctx {
    /// `tests:`, a mapping with `match` and `no_match` lists of posts.
    pub(super) fn tests(&mut self, file: &Path, rid: Option<&str>, node: &Node) -> RuleTests {
        let mut tests = RuleTests::default();
        let Value::Map(entries) = &node.value else {
            self.error(
                file,
                node.mark,
                rid,
                "'tests' must be a mapping with 'match' and 'no_match'".into(),
            );
            return tests;
        };
        for (k, v) in entries {
            let key = k.as_scalar().unwrap_or("");
            let target = match key {
                "match" => &mut tests.must_match,
                "no_match" => &mut tests.no_match,
                other => {
                    let hint = suggest(other, &["match", "no_match"]);
                    self.error(
                        file,
                        k.mark,
                        rid,
                        format!("tests: unknown key '{other}'{hint}"),
                    );
                    continue;
                }
            };
            let items: Vec<&Node> = match &v.value {
                Value::Seq(items) => items.iter().collect(),
                _ if v.is_null() => Vec::new(),
                _ => {
                    self.error(
                        file,
                        v.mark,
                        rid,
                        format!("tests: '{key}' must be a list of posts"),
                    );
                    continue;
                }
            };
            let mut posts = Vec::new();
            let mut problems = Vec::new();
            for item in items {
                if let Some(post) = test_post(key, item, &mut problems) {
                    posts.push(post);
                }
            }
            for (m, msg) in problems {
                self.error(file, m, rid, format!("tests: {msg}"));
            }
            target.extend(posts);
        }
        tests
    }
}

/// One post of the `key` list (`match` or `no_match`): a string, or a
/// mapping of field names to text. Its problems go to `problems`.
fn test_post(key: &str, item: &Node, problems: &mut Vec<(Mark, String)>) -> Option<TestPost> {
    match &item.value {
        Value::Scalar(s, _) => Some(TestPost {
            fields: vec![(None, s.clone())],
            expect_severity: None,
            mark: item.mark,
        }),
        Value::Map(fields) => {
            let mut post = TestPost {
                fields: Vec::new(),
                expect_severity: None,
                mark: item.mark,
            };
            for (fk, fv) in fields {
                if fk.as_scalar() == Some(EXPECT_SEVERITY) {
                    match fv.as_scalar().and_then(Severity::parse) {
                        _ if key != "match" => problems.push((
                            fk.mark,
                            format!("'{EXPECT_SEVERITY}' belongs to a 'match' post: a 'no_match' post raises no alert"),
                        )),
                        Some(sev) => post.expect_severity = Some(sev),
                        None => problems.push((
                            fv.mark,
                            format!(
                                "'{EXPECT_SEVERITY}' is {}",
                                Severity::ALL
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(" | ")
                            ),
                        )),
                    }
                    continue;
                }
                match (fk.as_scalar(), fv.as_scalar()) {
                    (Some(f), Some(t)) => post.fields.push((Some(f.to_string()), t.to_string())),
                    _ => problems.push((
                        fv.mark,
                        "a test post field maps a field name to its text".to_string(),
                    )),
                }
            }
            if post.fields.is_empty() {
                problems.push((
                    item.mark,
                    "a test post needs at least one field".to_string(),
                ));
            }
            Some(post)
        }
        Value::Seq(_) => {
            problems.push((
                item.mark,
                "a test post is a string or a mapping of field names to text".to_string(),
            ));
            None
        }
    }
}

/// The key of a `match` test post that asserts the alert's severity; a
/// post field cannot have this name.
const EXPECT_SEVERITY: &str = "expect_severity";
