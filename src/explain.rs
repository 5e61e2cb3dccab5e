//! Explanations for rule authors: how a post folds, which terms matched where,
//! and why each rule did or did not fire. Used by `kestrel explain` and by the
//! failure reports of `kestrel rules test`.

use std::fmt::Write;

use crate::engine::{Engine, Matches, Scratch};

/// Scans `fields` and explains the result: the folded text of each field,
/// every term hit with its raw span, and every rule with a hit or that fired.
pub fn explain(engine: &Engine, fields: &[(&str, &str)]) -> String {
    let mut scratch = engine.new_scratch();
    let mut matches = Matches::default();
    engine.scan(fields, &mut scratch, &mut matches);
    let mut out = String::new();
    for (i, (name, text)) in fields.iter().enumerate() {
        let _ = writeln!(out, "field {name}");
        let _ = writeln!(out, "  raw:    {text:?}");
        match scratch.folded(i) {
            Some(f) => {
                let _ = writeln!(out, "  folded: {:?}", f.as_str());
            }
            None => {
                let _ = writeln!(out, "  folded: (no folded-view term scans this field)");
            }
        }
    }
    let mut rules: Vec<usize> = engine.last_hits(&scratch).map(|(r, _, _)| r).collect();
    rules.extend(matches.firings.iter().map(|f| f.rule));
    rules.sort_unstable();
    rules.dedup();
    let _ = writeln!(out, "\nterm matches:");
    let set = engine.rule_set();
    let mut any = false;
    for (r, t, h) in engine.last_hits(&scratch) {
        any = true;
        let rule = &set.rules[r];
        let term = &rule.terms[t];
        let (fname, text) = fields[h.field as usize];
        let raw = text.get(h.start as usize..h.end as usize).unwrap_or("");
        let _ = write!(
            out,
            "  {}/{} ({} {}) in {fname} [{}..{}] {raw:?}",
            rule.id,
            term.name,
            term.kind.key(),
            term.view.as_str(),
            h.start,
            h.end
        );
        if let (Some((fs, fe)), Some(f)) = (h.folded_span(), scratch.folded(h.field as usize)) {
            let _ = write!(out, " folded {:?}", &f.as_str()[fs..fe]);
        }
        if let Some(k) = h.indicator {
            let _ = write!(out, " indicator {}", k.name());
        }
        if let Some(n) = h.note {
            let _ = write!(out, " ({n})");
        }
        out.push('\n');
    }
    if !any {
        let _ = writeln!(out, "  (none)");
    }
    let _ = writeln!(out, "\nrules:");
    if rules.is_empty() {
        let _ = writeln!(out, "  (no rule has a match)");
    }
    for r in rules {
        let fired = matches.firings.iter().find(|f| f.rule == r);
        out.push_str(&rule_verdict(
            engine,
            &mut scratch,
            fields,
            r,
            fired.is_some(),
        ));
    }
    out
}

/// One rule's verdict on the last scan in `scratch`: fired or not, and why.
pub fn rule_verdict(
    engine: &Engine,
    scratch: &mut Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
    fired: bool,
) -> String {
    let rule = &engine.rule_set().rules[rule_index];
    let names = rule.term_names();
    let mut out = String::new();
    let (cond, unless) = engine
        .explain_rule(rule_index, fields, scratch)
        .unwrap_or((false, false));
    let _ = writeln!(
        out,
        "  {} {} (revision {}, {}/{}, {})",
        match (fired, rule.status) {
            // Shown so an author can try a disabled rule; it never runs.
            (true, crate::rules::Status::Disabled) => "WOULD FIRE if enabled",
            (true, _) => "FIRED",
            (false, _) => "quiet",
        },
        rule.id,
        rule.revision,
        rule.category,
        rule.severity,
        rule.status
    );
    let _ = writeln!(
        out,
        "    condition {} -> {}",
        rule.condition.display(&names),
        if cond { "holds" } else { "does not hold" }
    );
    if let Some(u) = &rule.unless {
        let _ = writeln!(
            out,
            "    unless {} -> {}",
            u.display(&names),
            if unless {
                "holds (suppressed)"
            } else {
                "does not hold"
            }
        );
    }
    let mut counts = vec![0u32; rule.terms.len()];
    for (r, t, _) in engine.last_hits(scratch) {
        if r == rule_index {
            counts[t] += 1;
        }
    }
    let summary: Vec<String> = rule
        .terms
        .iter()
        .zip(&counts)
        .map(|(t, c)| format!("{}={c}", t.name))
        .collect();
    let _ = writeln!(out, "    matches per term: {}", summary.join(", "));
    out
}
