//! Explanations for rule authors: how a post folds, which terms matched where,
//! and why each rule did or did not fire. Used by `kestrel explain` and by the
//! failure reports of `kestrel rules test`.

use std::fmt::Write;

use crate::engine::{Engine, Matches, Scratch};
use crate::normalize;
use crate::rules::{LexiconTerm, TermKind};

/// Scans `fields` and explains the result: the folded text of each field,
/// every term hit with its raw span, and every rule with a hit or that fired.
pub fn explain(engine: &Engine, fields: &[(&str, &str)]) -> String {
    let mut scratch = Scratch::new();
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
        if let TermKind::Lexicon(lex) = &term.kind {
            let folded = match (h.folded_span(), scratch.folded(h.field as usize)) {
                (Some((fs, fe)), Some(f)) => f.as_str().get(fs..fe),
                _ => None,
            };
            let sources = lexicon_sources(lex, folded, raw);
            if !sources.is_empty() {
                let _ = write!(out, " lexicon {}", sources.join(", "));
            }
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
    if !rule.escalate.is_empty() {
        let grades = engine.explain_grades(rule_index, fields, scratch);
        let mut effective = rule.severity;
        let mut by = None;
        for (i, g) in rule.escalate.iter().enumerate() {
            let held = grades.get(i).copied().unwrap_or(false);
            let _ = writeln!(
                out,
                "    escalate {} -> {}: {}",
                g.when.display(&names),
                g.severity,
                if held { "holds" } else { "does not hold" }
            );
            if held && g.severity > effective {
                effective = g.severity;
                by = Some(&g.when_src);
            }
        }
        if fired {
            match by {
                Some(w) => {
                    let _ = writeln!(
                        out,
                        "    severity {effective} (escalated from {} by '{w}')",
                        rule.severity
                    );
                }
                None => {
                    let _ = writeln!(out, "    severity {effective} (no grade raised it)");
                }
            }
        }
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

/// The lexicon concepts and languages whose entries produced a match of a
/// lexicon term, found by matching the span against each entry again
/// (`folded` is the match in the folded text, `raw` as posted), as
/// `concept (language)`.
pub fn lexicon_sources(lex: &LexiconTerm, folded: Option<&str>, raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &lex.parts {
        let literal = |e: &String| match folded {
            Some(f) => normalize::fold(e) == f,
            None => e.as_str() == raw,
        };
        let regex = |pat: &String| {
            let (pat, hay) = match folded {
                Some(f) => match normalize::fold_regex(pat) {
                    Ok(p) => (p, f),
                    Err(_) => return false,
                },
                None => (pat.clone(), raw),
            };
            regex::Regex::new(&format!("^(?:{pat})$")).is_ok_and(|re| re.is_match(hay))
        };
        let hit = p.words.iter().any(literal)
            || p.substrings.iter().any(literal)
            || p.list.iter().any(literal)
            || p.regex.iter().any(regex);
        if hit {
            let s = format!("{} ({})", p.concept, p.language);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}
