//! Explanations for rule authors: how a post folds, which terms matched where,
//! and why each rule did or did not fire. Used by `kestrel explain` and by the
//! failure reports of `kestrel rules test`.

use std::fmt::Write;

use crate::engine::{Engine, Hit, Matches, Scratch};
use crate::normalize;
use crate::rules::{milli_display, Category, Expr, LexiconTerm, Rule, TermKind};

/// Scans `fields` and explains the result: the folded text of each field,
/// every term hit with its raw span, and every rule with a hit or that fired.
pub fn explain(engine: &Engine, fields: &[(&str, &str)]) -> String {
    explain_rules(engine, fields, None)
}

/// [`explain`], for one rule only (`Some(rule index)`): its term matches and
/// its verdict, shown even when none of its terms matched.
pub fn explain_rules(engine: &Engine, fields: &[(&str, &str)], only: Option<usize>) -> String {
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
    rules.extend(engine.last_unwritten(&scratch).map(|(r, _, _)| r));
    rules.extend(matches.firings.iter().map(|f| f.rule));
    rules.sort_unstable();
    rules.dedup();
    if let Some(r) = only {
        rules = vec![r];
    }
    let _ = writeln!(out, "\nterm matches:");
    let set = engine.rule_set();
    let mut any = false;
    for (r, t, h) in engine.last_hits(&scratch) {
        if only.is_some_and(|o| o != r) {
            continue;
        }
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
        if matches.superseded.iter().any(|f| f.rule == r) {
            let by: Vec<&str> = matches
                .firings
                .iter()
                .filter(|f| !f.shadow && set.rules[f.rule].category == set.rules[r].category)
                .map(|f| set.rules[f.rule].id.as_str())
                .collect();
            let _ = writeln!(
                out,
                "    fallback: its condition holds, but {} fired, so it raises no alert",
                by.join(", ")
            );
        }
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
    write_verdict_head(&mut out, rule, &names, fired, cond, unless);
    for (clause, holds) in clauses(engine, &mut *scratch, fields, rule_index) {
        let _ = writeln!(
            out,
            "      clause {clause} -> {}",
            if holds { "holds" } else { "does not hold" }
        );
    }
    for n in nears(engine, scratch, fields, rule_index) {
        let _ = writeln!(
            out,
            "      near({}, {}, {}): {}",
            names[n.a],
            names[n.b],
            n.limit,
            match n.closest {
                Some(d) if d <= n.limit => format!("closest pair {d} words apart (holds)"),
                Some(d) => format!("closest pair {d} words apart (too far)"),
                None => "no pair of matches in one field".to_string(),
            }
        );
    }
    if !rule.escalate.is_empty() {
        let grades = engine.explain_grades(rule_index, fields, scratch);
        write_grades(&mut out, rule, &names, &grades, fired);
    }
    let counts = term_counts(engine, scratch, rule_index);
    let summary: Vec<String> = rule
        .terms
        .iter()
        .zip(&counts)
        .map(|(t, c)| format!("{}={c}", t.name))
        .collect();
    let _ = writeln!(out, "    matches per term: {}", summary.join(", "));
    for line in score_lines(engine, scratch, fields, rule_index) {
        let _ = writeln!(out, "    {line}");
    }
    for line in unwritten_lines(engine, scratch, fields, rule_index) {
        let _ = writeln!(out, "    not counted: {line}");
    }
    out
}

/// Each `weights:` term of a rule on the last scan: its score, the score it
/// needs, and the distinct entries found with their weights, largest first;
/// for a term the rule reads with `unquoted()`, also its score outside
/// quotation marks.
pub fn score_lines(
    engine: &Engine,
    scratch: &mut Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
) -> Vec<String> {
    let rule = &engine.rule_set().rules[rule_index];
    let unquoted = unquoted_terms(rule);
    let mut out = Vec::new();
    for (t, term) in rule.terms.iter().enumerate() {
        let Some((score, at_least)) = engine.explain_score(rule_index, t, scratch) else {
            continue;
        };
        let mut found: Vec<(i32, String)> = Vec::new();
        for (r, ht, h) in engine.last_hits(scratch) {
            if r != rule_index || ht != t {
                continue;
            }
            let text = h
                .folded_span()
                .and_then(|(a, b)| scratch.folded(h.field as usize)?.as_str().get(a..b));
            if let (Some(text), Some(w)) = (text, engine.hit_weight(scratch, h)) {
                // A light stem is shown as its entry is written: `~STEM`.
                let entry = if h.is_stem() {
                    format!("~{text}")
                } else {
                    text.to_string()
                };
                if !found.iter().any(|(_, e)| *e == entry) {
                    found.push((w, entry));
                }
            }
        }
        found.sort_by_key(|(w, e)| (std::cmp::Reverse(w.abs()), e.clone()));
        let shown: Vec<String> = found
            .iter()
            .take(SCORE_ENTRIES_SHOWN)
            .map(|(w, e)| {
                format!(
                    "{}{} {e:?}",
                    if *w >= 0 { "+" } else { "" },
                    milli_display(*w)
                )
            })
            .collect();
        let more = found.len().saturating_sub(SCORE_ENTRIES_SHOWN);
        let outside = if unquoted.contains(&t) {
            engine
                .explain_unquoted_score(rule_index, t, fields, scratch)
                .map(|(s, a)| {
                    format!(
                        "; outside quotation marks {} ({} {})",
                        milli_display(s),
                        if s >= a { "reaches" } else { "below" },
                        milli_display(a)
                    )
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push(format!(
            "score of {}: {} ({} {}){}{}{outside}",
            term.name,
            milli_display(score),
            if score >= at_least {
                "reaches"
            } else {
                "below"
            },
            milli_display(at_least),
            if shown.is_empty() {
                String::new()
            } else {
                format!(": {}", shown.join(", "))
            },
            if more > 0 {
                format!(", … ({more} more)")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Entries shown per `weights:` term in an explanation.
const SCORE_ENTRIES_SHOWN: usize = 12;

/// Why each indicator match of rule `rule_index`'s terms that `written:`
/// left out of the last scan did not count, one line each.
fn unwritten_lines(
    engine: &Engine,
    scratch: &Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
) -> Vec<String> {
    let rule = &engine.rule_set().rules[rule_index];
    engine
        .last_unwritten(scratch)
        .filter(|(r, _, _)| *r == rule_index)
        .map(|(_, t, h)| {
            let term = &rule.terms[t];
            let (fname, text) = fields[h.field as usize];
            let raw = text.get(h.start as usize..h.end as usize).unwrap_or("");
            let how = if crate::indicators::is_split_note(h.note) {
                "written in pieces"
            } else {
                "written whole"
            };
            format!(
                "{} in {fname} [{}..{}] {raw:?} indicator {}: {how}, and the term says 'written: {}'",
                term.name,
                h.start,
                h.end,
                h.indicator.map(|k| k.name()).unwrap_or("?"),
                term.written.as_str()
            )
        })
        .collect()
}

/// The verdict's first lines: fired or quiet, then whether the condition
/// and `unless` held.
fn write_verdict_head(
    out: &mut String,
    rule: &Rule,
    names: &[String],
    fired: bool,
    cond: bool,
    unless: bool,
) {
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
        rule.condition.display(names),
        if cond { "holds" } else { "does not hold" }
    );
    if let Some(u) = &rule.unless {
        let _ = writeln!(
            out,
            "    unless {} -> {}",
            u.display(names),
            if unless {
                "holds (suppressed)"
            } else {
                "does not hold"
            }
        );
    }
}

/// Each `escalate` entry and whether it held, then (for a rule that fired)
/// the severity they give.
fn write_grades(out: &mut String, rule: &Rule, names: &[String], grades: &[bool], fired: bool) {
    let mut effective = rule.severity;
    let mut by = None;
    for (i, g) in rule.escalate.iter().enumerate() {
        let held = grades.get(i).copied().unwrap_or(false);
        let _ = writeln!(
            out,
            "    escalate {} -> {}: {}",
            g.when.display(names),
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

/// The top-level clauses of a rule's condition (the operands of its outer
/// `and` / `or`) with whether each held on the last scan; empty when the
/// condition is a single clause.
pub fn clauses(
    engine: &Engine,
    scratch: &mut Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
) -> Vec<(String, bool)> {
    let rule = &engine.rule_set().rules[rule_index];
    let names = rule.term_names();
    let parts = match &rule.condition {
        Expr::And(v) | Expr::Or(v) => v.as_slice(),
        _ => return Vec::new(),
    };
    parts
        .iter()
        .map(|e| {
            let holds = engine
                .explain_expr(rule_index, e, fields, scratch)
                .unwrap_or(false);
            (e.display(&names).to_string(), holds)
        })
        .collect()
}

/// One `near(a, b, limit)` of a rule and the closest pair found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Near {
    /// First term (index in the rule).
    pub a: usize,
    /// Second term.
    pub b: usize,
    /// The limit written in the rule, in words.
    pub limit: u32,
    /// Words between the closest pair of matches, if any pair exists.
    pub closest: Option<u32>,
}

/// Every `near` of a rule's condition and `unless`, with the distance that
/// satisfied it (or the closest that did not).
pub fn nears(
    engine: &Engine,
    scratch: &Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
) -> Vec<Near> {
    let rule = &engine.rule_set().rules[rule_index];
    let mut found = Vec::new();
    rule.visit_conditions(&mut |e| {
        if let Expr::Near(a, b, n) = e {
            found.push((*a, *b, *n));
        }
    });
    found
        .into_iter()
        .map(|(a, b, limit)| Near {
            a,
            b,
            limit,
            closest: engine.nearest(rule_index, a, b, fields, scratch),
        })
        .collect()
}

/// The folded text with each word that has a light stem replaced by it (the
/// same words, one for one): what a `weights:` file's `~` entries match.
fn stemmed(folded: &str) -> String {
    folded
        .split(' ')
        .map(|w| crate::normalize::light_stem(w).unwrap_or(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The explanation as one JSON object, for tools: `fields` (name, raw,
/// folded, stemmed), `matches` (every term hit), `not_counted` (indicator matches a
/// term's `written:` left out, each with that `written`) and `rules`
/// (verdict, condition, clauses, `near` distances, matches per term).
pub fn explain_json(
    engine: &Engine,
    fields: &[(&str, &str)],
    only: Option<usize>,
) -> serde_json::Value {
    use serde_json::json;
    let mut scratch = engine.new_scratch();
    let mut matches = Matches::default();
    engine.scan(fields, &mut scratch, &mut matches);
    let set = engine.rule_set();
    let field_list: Vec<serde_json::Value> = fields
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            json!({
                "name": name,
                "raw": text,
                "folded": scratch.folded(i).map(|f| f.as_str()),
                "stemmed": scratch.folded(i).map(|f| stemmed(f.as_str())),
            })
        })
        .collect();
    let mut hit_list = Vec::new();
    let mut rules: Vec<usize> = Vec::new();
    for (r, t, h) in engine.last_hits(&scratch) {
        rules.push(r);
        if only.is_some_and(|o| o != r) {
            continue;
        }
        hit_list.push(hit_json(engine, &scratch, fields, r, t, h));
    }
    let mut not_counted = Vec::new();
    for (r, t, h) in engine.last_unwritten(&scratch) {
        rules.push(r);
        if only.is_some_and(|o| o != r) {
            continue;
        }
        let mut j = hit_json(engine, &scratch, fields, r, t, h);
        j["written"] = json!(engine.rule_set().rules[r].terms[t].written.as_str());
        not_counted.push(j);
    }
    rules.extend(matches.firings.iter().map(|f| f.rule));
    rules.sort_unstable();
    rules.dedup();
    if let Some(r) = only {
        rules = vec![r];
    }
    let rule_list: Vec<serde_json::Value> = rules
        .into_iter()
        .map(|r| rule_json(engine, &mut scratch, fields, &matches, r))
        .collect();
    json!({
        "ruleset": set.hash,
        "fields": field_list,
        "matches": hit_list,
        "not_counted": not_counted,
        "rules": rule_list,
    })
}

/// One hit of term `t` of rule `r`, for [`explain_json`].
fn hit_json(
    engine: &Engine,
    scratch: &Scratch,
    fields: &[(&str, &str)],
    r: usize,
    t: usize,
    h: &Hit,
) -> serde_json::Value {
    let rule = &engine.rule_set().rules[r];
    let term = &rule.terms[t];
    let (fname, text) = fields[h.field as usize];
    let folded = match (h.folded_span(), scratch.folded(h.field as usize)) {
        (Some((fs, fe)), Some(f)) => Some(f.as_str()[fs..fe].to_string()),
        _ => None,
    };
    serde_json::json!({
        "rule": rule.id,
        "term": term.name,
        "kind": term.kind.key(),
        "view": term.view.as_str(),
        "field": fname,
        "start": h.start,
        "end": h.end,
        "text": text.get(h.start as usize..h.end as usize).unwrap_or(""),
        "folded": folded,
        "indicator": h.indicator.map(|k| k.name()),
        "note": h.note,
    })
}

/// Rule `r`'s verdict on the last scan, for [`explain_json`].
fn rule_json(
    engine: &Engine,
    scratch: &mut Scratch,
    fields: &[(&str, &str)],
    matches: &Matches,
    r: usize,
) -> serde_json::Value {
    use serde_json::json;
    let rule = &engine.rule_set().rules[r];
    let names = rule.term_names();
    let fired = matches.firings.iter().any(|f| f.rule == r);
    let (cond, unless) = engine
        .explain_rule(r, fields, scratch)
        .unwrap_or((false, false));
    let unquoted = unquoted_terms(rule);
    let mut scores = serde_json::Map::new();
    for (t, term) in rule.terms.iter().enumerate() {
        let Some((score, at_least)) = engine.explain_score(r, t, scratch) else {
            continue;
        };
        let mut v = json!({
            "score": milli_display(score),
            "at_least": milli_display(at_least),
            "holds": score >= at_least,
        });
        if unquoted.contains(&t) {
            if let Some((s, _)) = engine.explain_unquoted_score(r, t, fields, scratch) {
                v["outside_quotes"] = json!({"score": milli_display(s), "holds": s >= at_least});
            }
        }
        scores.insert(term.name.clone(), v);
    }
    let mut counts = serde_json::Map::new();
    for t in &rule.terms {
        counts.insert(t.name.clone(), json!(0));
    }
    for (hr, t, _) in engine.last_hits(scratch) {
        if hr == r {
            let c = &mut counts[&rule.terms[t].name];
            *c = json!(c.as_u64().unwrap_or(0) + 1);
        }
    }
    let superseded = matches.superseded.iter().any(|f| f.rule == r);
    let verdict = match (fired, rule.status) {
        (true, crate::rules::Status::Disabled) => "would_fire",
        (true, _) => "fired",
        (false, _) if superseded => "superseded",
        (false, _) => "quiet",
    };
    json!({
        "id": rule.id,
        "revision": rule.revision,
        "status": rule.status.to_string(),
        "verdict": verdict,
        "condition": rule.condition.display(&names).to_string(),
        "condition_holds": cond,
        "clauses": clauses(engine, &mut *scratch, fields, r)
            .into_iter()
            .map(|(c, h)| json!({"clause": c, "holds": h}))
            .collect::<Vec<_>>(),
        "unless": rule.unless.as_ref().map(|u| u.display(&names).to_string()),
        "unless_holds": unless,
        "near": nears(engine, scratch, fields, r)
            .into_iter()
            .map(|n| json!({
                "a": names[n.a],
                "b": names[n.b],
                "limit": n.limit,
                "closest": n.closest,
                "holds": n.closest.is_some_and(|d| d <= n.limit),
            }))
            .collect::<Vec<_>>(),
        "matches_per_term": counts,
        "scores": scores,
    })
}

/// The lexicon concepts and languages whose entries produced a match of a
/// lexicon term, found by matching the span against each entry again
/// (`folded` is the match in the folded text, `raw` as posted), as
/// `concept (language)`.
pub fn lexicon_sources(lex: &LexiconTerm, folded: Option<&str>, raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // An entry matched through an Arabic word read without its prefixes
    // is named with the prefix: `group (ar) as "المجاهدين" after "ل"`.
    for p in &lex.parts {
        let literal = |e: &String| match folded {
            Some(f) => normalize::fold(e) == f,
            None => e.as_str() == raw,
        };
        let stem = |e: &String| {
            let f = folded?;
            let entry = normalize::fold(e);
            normalize::prefixed_reading(f, &entry)
                .map(|(prefix, _)| format!(" as {entry:?} after {prefix:?}"))
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
        let mut hit = p.words.iter().any(literal)
            || p.substrings.iter().any(literal)
            || p.list.iter().any(literal)
            || p.regex.iter().any(regex);
        let mut via = String::new();
        if !hit {
            if let Some(v) = p.words.iter().chain(&p.list).find_map(stem) {
                (hit, via) = (true, v);
            }
        }
        if hit {
            let s = format!("{} ({}){via}", p.concept, p.language);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Matches per term of one rule in the last scan in `scratch`.
fn term_counts(engine: &Engine, scratch: &Scratch, rule_index: usize) -> Vec<u32> {
    counts_per_term(engine, engine.last_hits(scratch), rule_index)
}

/// Indicator matches per term of one rule that `written:` left out of the
/// last scan in `scratch`.
fn unwritten_counts(engine: &Engine, scratch: &Scratch, rule_index: usize) -> Vec<u32> {
    counts_per_term(engine, engine.last_unwritten(scratch), rule_index)
}

/// How many of `located` (`(rule, term, hit)`, as [`Engine::last_hits`]
/// gives them) fall on each term of rule `rule_index`.
fn counts_per_term<'a>(
    engine: &Engine,
    located: impl Iterator<Item = (usize, usize, &'a Hit)>,
    rule_index: usize,
) -> Vec<u32> {
    let mut counts = vec![0u32; engine.rule_set().rules[rule_index].terms.len()];
    for (r, t, _) in located {
        if r == rule_index {
            counts[t] += 1;
        }
    }
    counts
}

/// Rules of the category shown per miss, closest first.
const RULES_SHOWN: usize = 3;
/// Terms named per rule as having no match.
const MISSING_SHOWN: usize = 6;

/// One line on why no rule of `category` raised an alert on the last scan
/// (for `kestrel eval`): for each rule of that category with a match, whether
/// its condition failed (and which of its terms had no match) or `unless`
/// suppressed it (and on what); with `active_only`, shadow alerts do not
/// count and are named as such.
pub fn miss_line(
    engine: &Engine,
    scratch: &mut Scratch,
    fields: &[(&str, &str)],
    matches: &Matches,
    category: Category,
    active_only: bool,
) -> String {
    let set = engine.rule_set().clone();
    let mut rules: Vec<usize> = engine
        .last_hits(scratch)
        .chain(engine.last_unwritten(scratch))
        .map(|(r, _, _)| r)
        .filter(|&r| set.rules[r].category == category)
        .collect();
    rules.sort_unstable();
    rules.dedup();
    // (how close the rule came: condition terms matched, its line)
    let mut parts: Vec<(usize, String)> = Vec::new();
    for r in rules {
        let rule = &set.rules[r];
        let names = rule.term_names();
        if let Some(f) = matches.firings.iter().find(|f| f.rule == r) {
            if f.shadow && active_only {
                parts.push((usize::MAX, format!("{}: fired in shadow", rule.id)));
            }
            continue;
        }
        let counts = term_counts(engine, scratch, r);
        let (cond, unless) = engine
            .explain_rule(r, fields, scratch)
            .unwrap_or((false, false));
        if cond && unless {
            let mut used = Vec::new();
            if let Some(u) = &rule.unless {
                expr_term_names(u, &mut used);
            }
            let hits = hit_texts(engine, scratch, fields, r, &used);
            parts.push((
                usize::MAX - 1,
                format!("{}: suppressed by unless ({hits})", rule.id),
            ));
        } else {
            let mut wanted = Vec::new();
            expr_term_names(&rule.condition, &mut wanted);
            let matched: Vec<String> = wanted
                .iter()
                .filter(|&&t| counts[t] > 0)
                .map(|&t| match engine.explain_score(r, t, scratch) {
                    Some((score, at_least)) => format!(
                        "{}={} (score {}, needs {})",
                        names[t],
                        counts[t],
                        milli_display(score),
                        milli_display(at_least)
                    ),
                    None => format!("{}={}", names[t], counts[t]),
                })
                .collect();
            let left = unwritten_counts(engine, scratch, r);
            let missing: Vec<String> = wanted
                .iter()
                .filter(|&&t| counts[t] == 0)
                .map(|&t| match left[t] {
                    0 => names[t].clone(),
                    n => format!(
                        "{} ({n} address(es) left out by 'written: {}')",
                        names[t],
                        rule.terms[t].written.as_str()
                    ),
                })
                .collect();
            let mut s = format!("{}: condition does not hold", rule.id);
            if !matched.is_empty() {
                s.push_str(&format!("; matched {}", matched.join(" ")));
            }
            if missing.is_empty() {
                s.push_str(&format!(" ({})", rule.condition_src));
            } else if missing.len() <= MISSING_SHOWN {
                s.push_str(&format!("; no match for {}", missing.join(", ")));
            } else {
                s.push_str(&format!(
                    "; no match for {}, … ({} more)",
                    missing[..MISSING_SHOWN].join(", "),
                    missing.len() - MISSING_SHOWN
                ));
            }
            parts.push((matched.len(), s));
        }
    }
    // The rules that came closest first; the rest are counted.
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    let shown = parts.len().min(RULES_SHOWN);
    let more = parts.len() - shown;
    let mut parts: Vec<String> = parts.into_iter().take(shown).map(|(_, s)| s).collect();
    if more > 0 {
        parts.push(format!("{more} more {category} rule(s) matched less"));
    }
    if parts.is_empty() {
        parts.push(format!("no term of a {category} rule matched"));
    }
    let others: Vec<&str> = matches
        .firings
        .iter()
        .filter(|f| set.rules[f.rule].category != category && !(active_only && f.shadow))
        .map(|f| set.rules[f.rule].id.as_str())
        .collect();
    if !others.is_empty() {
        parts.push(format!("fired instead: {}", others.join(", ")));
    }
    parts.join("; ")
}

/// One line on the alerts of the last scan (for `kestrel eval`'s false
/// alarms): each rule that fired, with its severity and what each of its
/// evidence terms matched.
pub fn alarm_line(
    engine: &Engine,
    fields: &[(&str, &str)],
    matches: &Matches,
    active_only: bool,
) -> String {
    let set = engine.rule_set();
    let mut parts = Vec::new();
    for f in &matches.firings {
        if active_only && f.shadow {
            continue;
        }
        let rule = &set.rules[f.rule];
        let mut ev = Vec::new();
        for e in &matches.evidence[f.evidence.clone()] {
            let text = fields
                .get(e.field as usize)
                .and_then(|(_, t)| t.get(e.start as usize..e.end as usize))
                .unwrap_or("");
            let s = format!("{}={text:?}", rule.terms[e.term as usize].name);
            if !ev.contains(&s) {
                ev.push(s);
            }
        }
        parts.push(format!(
            "{} fired{} ({}): {}",
            rule.id,
            if f.shadow { " in shadow" } else { "" },
            f.severity,
            ev.join(" ")
        ));
    }
    parts.join("; ")
}

/// The terms a rule reads with `unquoted()`, in its condition or `unless`.
fn unquoted_terms(rule: &crate::rules::Rule) -> Vec<usize> {
    let mut out = Vec::new();
    rule.visit_conditions(&mut |e| {
        if let Expr::Unquoted(t) = e {
            out.push(*t);
        }
    });
    out
}

/// The indices of the terms an expression names.
fn expr_term_names(e: &Expr, out: &mut Vec<usize>) {
    e.terms(out);
    let mut seen = Vec::new();
    out.retain(|t| {
        let new = !seen.contains(t);
        seen.push(*t);
        new
    });
}

/// `term="text"` for the matches of the given terms of one rule.
fn hit_texts(
    engine: &Engine,
    scratch: &Scratch,
    fields: &[(&str, &str)],
    rule_index: usize,
    terms: &[usize],
) -> String {
    let rule = &engine.rule_set().rules[rule_index];
    let mut out: Vec<String> = Vec::new();
    for (r, t, h) in engine.last_hits(scratch) {
        if r != rule_index || !terms.contains(&t) {
            continue;
        }
        let text = fields
            .get(h.field as usize)
            .and_then(|(_, x)| x.get(h.start as usize..h.end as usize))
            .unwrap_or("");
        let s = format!("{}={text:?}", rule.terms[t].name);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}
