//! A rule's `condition`, `unless` and `escalate`.

use std::path::Path;

use super::rule::Fields;
use super::{suggest, Ctx};
use crate::rules::condition::{self, Parsed};
use crate::rules::yaml::{Mark, Node, ScalarStyle, Value};
use crate::rules::{Escalation, Expr, Severity, Term};

impl Ctx {
    /// `condition`, `unless` and `escalate`, with `them` resolved; `None`
    /// when one of them, or a term they may name, has an error.
    pub(super) fn rule_conditions(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        fields: &Fields,
        terms: &[Term],
        broken: &[String],
    ) -> Option<Conditions> {
        // A term whose definition had an error is still a name the
        // condition may use (its error is already reported; an "unknown
        // term" on top would send the author looking in the wrong place).
        let names: Vec<String> = terms
            .iter()
            .map(|t| t.name.clone())
            .chain(broken.iter().cloned())
            .collect();
        let lookup = |n: &str| names.iter().position(|m| m == n);
        let cond = self.condition_field(file, rid, fields, "condition", &lookup);
        let unless = self.condition_field(file, rid, fields, "unless", &lookup);
        let escalate = match fields.get("escalate") {
            None => Some(Vec::new()),
            Some((_, v)) => self.escalate(file, rid, v, &lookup),
        };
        if fields.contains_key("condition") && cond.is_none()
            || fields.contains_key("unless") && unless.is_none()
            || escalate.is_none()
            || !broken.is_empty()
        {
            return None;
        }
        let escalate = escalate.unwrap_or_default();
        let unless_terms = self.unless_terms(file, rid, fields, unless.as_ref());
        let (cond_parsed, condition_src) = cond.unwrap_or((
            Parsed::OfThem(condition::Quantity::AtLeast(1)),
            "any of them".to_string(),
        ));
        let mut escalate_terms = Vec::new();
        for (when, _, _, _) in &escalate {
            when.named_terms(&mut escalate_terms);
        }
        let them = them(terms.len(), &cond_parsed, &unless_terms, &escalate_terms);
        let mut used = unless_terms;
        used.extend(&escalate_terms);
        let uses_them = cond_parsed.uses_them();
        if uses_them {
            used.extend(&them);
        }
        cond_parsed.named_terms(&mut used);
        self.check_terms_used(file, rid, node, terms, uses_them.then_some(&them), &used);
        Some(Conditions {
            condition: cond_parsed.resolve(&them),
            condition_src,
            unless_src: unless.as_ref().map(|(_, s)| s.clone()),
            unless: unless.map(|(u, _)| u.resolve(&them)),
            escalate: escalate
                .into_iter()
                .map(|(when, when_src, severity, mark)| Escalation {
                    when: when.resolve(&them),
                    when_src,
                    severity,
                    mark,
                })
                .collect(),
        })
    }

    /// `condition` or `unless`, parsed, with its source text; `None` when
    /// absent or wrong (reported).
    fn condition_field(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        fields: &Fields,
        key: &str,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<(Parsed, String)> {
        let (k, v) = fields.get(key)?;
        let Some(src) = v.as_scalar() else {
            self.error(file, v.mark, rid, format!("'{key}' must be a string"));
            return None;
        };
        if src.trim().is_empty() {
            // An empty value has its mark where the next token starts,
            // often the next rule: name the key instead. The usual cause
            // is an unquoted `#a >= 2`, which YAML reads as a comment.
            self.error(
                file,
                k.mark,
                rid,
                format!(
                    "{key}: the condition is empty (a value that starts with '#' is a YAML \
                     comment: quote it, as in {key}: '#a >= 2')"
                ),
            );
            return None;
        }
        match condition::parse(src, lookup) {
            Ok(p) => Some((p, src.to_string())),
            Err(e) => {
                let mark = offset_mark(v, src, e.offset);
                self.error(file, mark, rid, format!("{key}: {}", e.message));
                None
            }
        }
    }

    /// The terms `unless` names; it cannot use `of them`.
    fn unless_terms(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        fields: &Fields,
        unless: Option<&(Parsed, String)>,
    ) -> Vec<usize> {
        let mut unless_terms = Vec::new();
        if let Some((u, _)) = unless {
            if u.uses_them() {
                let (_, v) = fields["unless"];
                self.error(
                    file,
                    v.mark,
                    rid,
                    "'unless' cannot use 'of them'; name its terms".into(),
                );
            }
            u.named_terms(&mut unless_terms);
        }
        unless_terms
    }

    /// Every term is used by a condition, and `of them` (`them` when the
    /// condition says it) has terms.
    fn check_terms_used(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        terms: &[Term],
        them: Option<&Vec<usize>>,
        used: &[usize],
    ) {
        if them.is_some_and(|t| t.is_empty()) && !terms.is_empty() {
            self.error(
                file,
                node.mark,
                rid,
                "'of them' has no terms: every term is used by 'unless' or only by 'escalate'"
                    .into(),
            );
        }
        for (i, t) in terms.iter().enumerate() {
            if !used.contains(&i) {
                self.error(
                    file,
                    t.mark,
                    rid,
                    format!("term '{}' is not used by 'condition' or 'unless'", t.name),
                );
            }
        }
    }

    /// A grade that is not above the rule's severity never raises an alert.
    pub(super) fn warn_low_grades(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        escalate: &[Escalation],
        severity: Severity,
    ) {
        for e in escalate {
            if e.severity <= severity {
                self.warn(
                    file,
                    e.mark,
                    rid,
                    format!(
                        "escalate: '{}' gives {}, which is not above the rule's severity {severity}, so it never raises an alert",
                        e.when_src, e.severity
                    ),
                );
            }
        }
    }

    /// `escalate:`, a list of `{when: CONDITION, severity: LEVEL}`; `None`
    /// when an entry is wrong (each problem is reported).
    fn escalate(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<Grade>> {
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
            if let Some(grade) = self.grade(file, rid, item, lookup) {
                out.push(grade);
            }
        }
        (self.error_count() == errors_before).then_some(out)
    }

    /// One `escalate` entry; `None` when it is wrong (reported).
    fn grade(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        item: &Node,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Grade> {
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
            return None;
        };
        let (when, severity) = self.grade_keys(file, rid, entries);
        let Some((wk, wv)) = when else {
            self.error(
                file,
                item.mark,
                rid,
                "escalate: an entry needs 'when'".into(),
            );
            return None;
        };
        let Some(severity) = severity else {
            self.error(
                file,
                item.mark,
                rid,
                "escalate: an entry needs 'severity'".into(),
            );
            return None;
        };
        let Some(src) = wv.as_scalar().filter(|s| !s.trim().is_empty()) else {
            self.error(
                file,
                wk.mark,
                rid,
                "escalate: 'when' is a non-empty condition (quote one that starts with '#')".into(),
            );
            return None;
        };
        match condition::parse(src, lookup) {
            Ok(p) if p.uses_them() => {
                self.error(
                    file,
                    wv.mark,
                    rid,
                    "escalate: 'when' cannot use 'of them'; name its terms".into(),
                );
                None
            }
            Ok(p) => severity.map(|sev| (p, src.to_string(), sev, item.mark)),
            Err(e) => {
                let mark = offset_mark(wv, src, e.offset);
                self.error(file, mark, rid, format!("escalate: when: {}", e.message));
                None
            }
        }
    }

    /// The `when` and `severity` of an `escalate` entry: the severity is
    /// `Some(None)` when written but wrong (reported).
    #[allow(clippy::type_complexity)]
    fn grade_keys<'a>(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        entries: &'a [(Node, Node)],
    ) -> (Option<(&'a Node, &'a Node)>, Option<Option<Severity>>) {
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
        (when, severity)
    }
}

/// A checked `escalate` entry before `them` is resolved: its condition,
/// source text, severity and place.
type Grade = (Parsed, String, Severity, Mark);

/// A rule's conditions, resolved.
pub(super) struct Conditions {
    pub(super) condition: Expr,
    pub(super) condition_src: String,
    pub(super) unless: Option<Expr>,
    pub(super) unless_src: Option<String>,
    pub(super) escalate: Vec<Escalation>,
}

/// `them`: every term that `unless` does not use and that is not only a
/// grade's (`escalate`).
fn them(
    count: usize,
    cond: &Parsed,
    unless_terms: &[usize],
    escalate_terms: &[usize],
) -> Vec<usize> {
    let mut cond_named = Vec::new();
    cond.named_terms(&mut cond_named);
    (0..count)
        .filter(|t| {
            !unless_terms.contains(t) && (cond_named.contains(t) || !escalate_terms.contains(t))
        })
        .collect()
}

/// At most this many `escalate` entries per rule.
const MAX_GRADES: usize = 64;

/// The position of a character offset inside a condition scalar. Exact for
/// single-line plain and quoted scalars; block scalars point at their line.
fn offset_mark(v: &Node, src: &str, offset: usize) -> Mark {
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
