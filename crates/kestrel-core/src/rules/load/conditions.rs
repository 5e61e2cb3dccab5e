//! A rule's `condition`, `unless` and `escalate`.

use std::path::Path;

use super::{suggest, Ctx};
use crate::rules::condition::{self, Parsed};
use crate::rules::yaml::{Mark, Node, ScalarStyle, Value};
use crate::rules::Severity;

impl Ctx {
    /// `escalate:`, a list of `{when: CONDITION, severity: LEVEL}`; `None`
    /// when an entry is wrong (each problem is reported).
    pub(super) fn escalate(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<(Parsed, String, Severity, Mark)>> {
        let errors_before = self.error_count();
        let Value::Seq(items) = &node.value else {
            self.error(
                file,
                node.mark,
                rid,
                "'escalate' is a list of {when: CONDITION, severity: LEVEL}".into(),
            );
            return None;
        };
        if items.len() > MAX_GRADES {
            self.error(
                file,
                node.mark,
                rid,
                format!(
                    "'escalate' has {} entries; at most {MAX_GRADES}",
                    items.len()
                ),
            );
        }
        let mut out = Vec::new();
        for item in items {
            let Value::Map(entries) = &item.value else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    format!(
                        "an 'escalate' entry is a mapping {{when: CONDITION, severity: LEVEL}}, found {}",
                        item.kind_name()
                    ),
                );
                continue;
            };
            let mut when = None;
            let mut severity = None;
            for (k, v) in entries {
                match k.as_scalar() {
                    Some("when") if when.is_none() => when = Some((k, v)),
                    Some("severity") if severity.is_none() => {
                        severity = Some(self.enum_value(
                            file,
                            rid,
                            Some(&(k, v)),
                            "severity",
                            Severity::parse,
                            Severity::ALL.iter().map(|c| c.as_str()),
                        ))
                    }
                    Some(key @ ("when" | "severity")) => self.error(
                        file,
                        k.mark,
                        rid,
                        format!("escalate: key '{key}' appears twice"),
                    ),
                    other => {
                        let other = other.unwrap_or("?");
                        let hint = suggest(other, &["when", "severity"]);
                        self.error(
                            file,
                            k.mark,
                            rid,
                            format!("escalate: unknown key '{other}'{hint}"),
                        );
                    }
                }
            }
            let Some((wk, wv)) = when else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    "escalate: an entry needs 'when'".into(),
                );
                continue;
            };
            let Some(severity) = severity else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    "escalate: an entry needs 'severity'".into(),
                );
                continue;
            };
            let Some(src) = wv.as_scalar().filter(|s| !s.trim().is_empty()) else {
                self.error(
                    file,
                    wk.mark,
                    rid,
                    "escalate: 'when' is a non-empty condition (quote one that starts with '#')"
                        .into(),
                );
                continue;
            };
            match condition::parse(src, lookup) {
                Ok(p) if p.uses_them() => self.error(
                    file,
                    wv.mark,
                    rid,
                    "escalate: 'when' cannot use 'of them'; name its terms".into(),
                ),
                Ok(p) => {
                    if let Some(sev) = severity {
                        out.push((p, src.to_string(), sev, item.mark));
                    }
                }
                Err(e) => {
                    let mark = offset_mark(wv, src, e.offset);
                    self.error(file, mark, rid, format!("escalate: when: {}", e.message));
                }
            }
        }
        (self.error_count() == errors_before).then_some(out)
    }
}

/// At most this many `escalate` entries per rule.
const MAX_GRADES: usize = 64;

/// The position of a character offset inside a condition scalar. Exact for
/// single-line plain and quoted scalars; block scalars point at their line.
pub(super) fn offset_mark(v: &Node, src: &str, offset: usize) -> Mark {
    match &v.value {
        Value::Scalar(_, ScalarStyle::Plain) if !src.contains('\n') => Mark {
            line: v.mark.line,
            col: v.mark.col + offset,
        },
        Value::Scalar(_, ScalarStyle::Quoted)
            if !src.contains('\n') && !src.contains(['\\', '\'', '"']) =>
        {
            Mark {
                line: v.mark.line,
                col: v.mark.col + 1 + offset,
            }
        }
        _ => v.mark,
    }
}
