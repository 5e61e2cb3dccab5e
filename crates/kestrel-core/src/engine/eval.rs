//! Evaluation: conditions and `unless` over a post's hits, grades, evidence,
//! and the explanations `kestrel explain` and `eval` print.

use super::{CompiledRule, Engine, Evidence, Firing, Hit, Matches, Scratch, MAX_EVIDENCE};
use crate::normalize::FoldedText;
use crate::rules::condition::Facts;
use crate::rules::{Expr, Rule};
impl Engine {
    pub(super) fn evaluate(&self, fields: &[(&str, &str)], s: &mut Scratch, out: &mut Matches) {
        s.candidates.clear();
        for &t in &s.sink.touched {
            let r = self.terms[t as usize].rule;
            if !s.rule_seen[r as usize] {
                s.rule_seen[r as usize] = true;
                s.candidates.push(r);
            }
        }
        for &r in &self.always {
            if !s.rule_seen[r as usize] {
                s.rule_seen[r as usize] = true;
                s.candidates.push(r);
            }
        }
        s.candidates.sort_unstable();
        let candidates = std::mem::take(&mut s.candidates);
        let mut deferred = false;
        for &r in &candidates {
            s.rule_seen[r as usize] = false;
            if self.rules[r as usize].fallback {
                deferred = true;
                continue;
            }
            if let Some(f) = self.fire(r, fields, s, out) {
                out.firings.push(f);
            }
        }
        // Fallback rules last: each alerts only where no other active rule
        // of its category did.
        if deferred {
            let mut added = false;
            for &r in &candidates {
                if !self.rules[r as usize].fallback {
                    continue;
                }
                let Some(f) = self.fire(r, fields, s, out) else {
                    continue;
                };
                let category = self.set.rules[f.rule].category;
                let covered = out.firings.iter().any(|g| {
                    !g.shadow
                        && !self.set.rules[g.rule].fallback
                        && self.set.rules[g.rule].category == category
                });
                if covered {
                    out.superseded.push(f);
                } else {
                    out.firings.push(f);
                    added = true;
                }
            }
            if added {
                out.firings.sort_by_key(|f| f.rule);
            }
        }
        s.candidates = candidates;
    }

    /// Evaluates one candidate rule; when it fires, appends its evidence to
    /// `out.evidence` and returns its firing.
    fn fire(
        &self,
        r: u32,
        fields: &[(&str, &str)],
        s: &mut Scratch,
        out: &mut Matches,
    ) -> Option<Firing> {
        let cr = &self.rules[r as usize];
        let rule = &self.set.rules[cr.index];
        let fired = {
            let facts = RuleFacts {
                engine: self,
                scratch: s,
                first: cr.first_term,
                fields,
            };
            rule.condition.eval(&facts) && !rule.unless.as_ref().is_some_and(|u| u.eval(&facts))
        };
        if !fired {
            return None;
        }
        // Grades: the highest severity whose `when` holds. Bit i of
        // `held` is entry i (the loader allows at most 64).
        let mut severity = rule.severity;
        let mut escalated_by = None;
        let mut held: u64 = 0;
        if !rule.escalate.is_empty() {
            let facts = RuleFacts {
                engine: self,
                scratch: s,
                first: cr.first_term,
                fields,
            };
            for (i, g) in rule.escalate.iter().enumerate().take(64) {
                if !g.when.eval(&facts) {
                    continue;
                }
                held |= 1 << i;
                if g.severity > severity {
                    severity = g.severity;
                    escalated_by = Some(i);
                }
            }
        }
        let ev_start = out.evidence.len();
        let omitted = self.push_evidence(cr, s, held, out);
        out.evidence[ev_start..].sort_by_key(|e| (e.field, e.start, e.end, e.term));
        Some(Firing {
            rule: cr.index,
            shadow: cr.shadow,
            evidence: ev_start..out.evidence.len(),
            evidence_omitted: omitted,
            severity,
            escalated_by,
        })
    }

    /// Appends the evidence of a rule that fired and returns how many matches
    /// were left out. The first match of every evidence term goes in before
    /// any term's second, so a term repeated many times cannot crowd out the
    /// one span that made the condition hold; then the rest, term by term,
    /// up to [`MAX_EVIDENCE`] (or one per term, when a rule has more terms).
    /// `held`: bit i is set when `escalate` entry i held; the terms only
    /// grades use are evidence when their grade held.
    fn push_evidence(&self, cr: &CompiledRule, s: &Scratch, held: u64, out: &mut Matches) -> u32 {
        let ev_start = out.evidence.len();
        let mut found = 0u32;
        let push = |out: &mut Matches, local: u32, h: &Hit| {
            out.evidence.push(Evidence {
                term: local,
                field: h.field,
                start: h.start,
                end: h.end,
                indicator: h.indicator,
                note: h.note,
            })
        };
        let evidence_terms = (0..cr.term_count)
            .map(|local| (local, cr.first_term + local))
            .filter(|&(local, g)| {
                self.terms[g as usize].evidence
                    || cr
                        .grade_terms
                        .iter()
                        .enumerate()
                        .any(|(i, ts)| held & (1 << i) != 0 && ts.contains(&local))
            });
        // A weights term's evidence is the entries that raised its score.
        let counts = |h: &Hit| self.hit_weight(s, h).is_none_or(|w| w > 0);
        for (local, g) in evidence_terms.clone() {
            let (a, b) = s.term_hits[g as usize];
            let hits = &s.sink.hits[a as usize..b as usize];
            if self.terms[g as usize].score == u32::MAX {
                found += s.sink.counts[g as usize];
            } else {
                found += hits.iter().filter(|h| counts(h)).count() as u32;
            }
            if let Some(h) = hits.iter().find(|h| counts(h)) {
                push(out, local, h);
            }
        }
        for (local, g) in evidence_terms {
            let (a, b) = s.term_hits[g as usize];
            let hits = &s.sink.hits[a as usize..b as usize];
            let first = hits.iter().position(&counts).unwrap_or(hits.len());
            for h in hits.iter().skip(first + 1).filter(|h| counts(h)) {
                if out.evidence.len() - ev_start >= MAX_EVIDENCE {
                    break;
                }
                push(out, local, h);
            }
        }
        found.saturating_sub((out.evidence.len() - ev_start) as u32)
    }

    /// The weight of a hit of a `weights:` term (its entry's, found by the
    /// folded text it covers) in the last scan of `s`; `None` for hits of
    /// other terms.
    pub fn hit_weight(&self, s: &Scratch, h: &Hit) -> Option<i32> {
        let table = self
            .scores
            .get(self.terms[h.term as usize].score as usize)?;
        let (a, b) = h.folded_span()?;
        let text = s.folded(h.field as usize)?.as_str().get(a..b)?;
        Some(table.weight(h.stem, text))
    }

    /// The score of global term `g` on the last scan and the score it needs,
    /// when it is a `weights:` term: the sum of the weights of the distinct
    /// entries found (each counted once, however often it appears).
    fn score_of(&self, s: &Scratch, g: usize) -> Option<(i32, i32)> {
        self.score_where(s, g, |_| true)
    }

    /// [`Engine::score_of`] over the hits `keep` accepts.
    fn score_where(
        &self,
        s: &Scratch,
        g: usize,
        mut keep: impl FnMut(&Hit) -> bool,
    ) -> Option<(i32, i32)> {
        let table = self.scores.get(self.terms[g].score as usize)?;
        let (a, b) = s.term_hits[g];
        // Each entry counts once, however often it occurs: sorted and
        // deduplicated (a learned model's entries can match most words of
        // a post, so a linear search of those seen would be quadratic).
        let mut texts: Vec<(bool, &str)> = s.sink.hits[a as usize..b as usize]
            .iter()
            .filter(|h| keep(h))
            .filter_map(|h| {
                let (x, y) = h.folded_span()?;
                Some((h.stem, s.folded(h.field as usize)?.as_str().get(x..y)?))
            })
            .collect();
        texts.sort_unstable();
        texts.dedup();
        let score = texts.iter().fold(0i32, |acc, (stem, t)| {
            acc.saturating_add(table.weight(*stem, t))
        });
        Some((score, table.at_least))
    }

    /// The score of a `weights:` term (index `term` in its rule) on the last
    /// scan and the score it needs, for explanations; `None` for other terms,
    /// a rule this engine does not run or a scratch it did not make.
    pub fn explain_score(&self, rule_index: usize, term: usize, s: &Scratch) -> Option<(i32, i32)> {
        if s.engine != self.id {
            return None;
        }
        let cr = self.rules.iter().find(|r| r.index == rule_index)?;
        if term >= cr.term_count as usize {
            return None;
        }
        self.score_of(s, cr.first_term as usize + term)
    }

    /// The score of a `weights:` term on the entries found outside quotation
    /// marks alone (what `unquoted(term)` judges) and the score it needs, on
    /// the last scan, for explanations; `None` as for
    /// [`Engine::explain_score`].
    pub fn explain_unquoted_score(
        &self,
        rule_index: usize,
        term: usize,
        fields: &[(&str, &str)],
        s: &mut Scratch,
    ) -> Option<(i32, i32)> {
        let (_, facts) = self.last_scan_facts(rule_index, fields, s)?;
        let g = facts.first as usize + term;
        let mut spans = facts.no_spans();
        self.score_where(facts.scratch, g, |h| !facts.inside(&mut spans, h))
    }

    /// Evaluates one part of a rule's condition (or `unless`) on the last
    /// scan, for explanations: which clause held. `None` for a rule the
    /// engine does not run.
    pub fn explain_expr(
        &self,
        rule_index: usize,
        expr: &Expr,
        fields: &[(&str, &str)],
        s: &mut Scratch,
    ) -> Option<bool> {
        let (_, facts) = self.last_scan_facts(rule_index, fields, s)?;
        Some(expr.eval(&facts))
    }

    /// One rule and the facts of the last scan about its terms, for the
    /// explanations; None for a rule this engine does not run, or a scratch
    /// this engine did not make.
    fn last_scan_facts<'a>(
        &'a self,
        rule_index: usize,
        fields: &'a [(&'a str, &'a str)],
        s: &'a mut Scratch,
    ) -> Option<(&'a Rule, RuleFacts<'a>)> {
        if s.engine != self.id {
            return None;
        }
        let cr = self.rules.iter().find(|r| r.index == rule_index)?;
        let facts = RuleFacts {
            engine: self,
            scratch: s,
            first: cr.first_term,
            fields,
        };
        Some((&self.set.rules[cr.index], facts))
    }

    /// The fewest words between a match of term `a` and one of term `b` of
    /// a rule in the same field of the last scan (what `near` compares with
    /// its limit), or `None` when no such pair exists.
    pub fn nearest(
        &self,
        rule_index: usize,
        a: usize,
        b: usize,
        fields: &[(&str, &str)],
        s: &Scratch,
    ) -> Option<u32> {
        if s.engine != self.id {
            return None;
        }
        let cr = self.rules.iter().find(|r| r.index == rule_index)?;
        let hits = |t: usize| {
            let (x, y) = s.term_hits[cr.first_term as usize + t];
            &s.sink.hits[x as usize..y as usize]
        };
        let mut best = None;
        for x in hits(a) {
            for y in hits(b).iter().filter(|y| y.field == x.field) {
                if let Some(d) = word_distance(s, fields, x, y) {
                    best = Some(best.map_or(d, |b: u32| b.min(d)));
                }
            }
        }
        best
    }

    /// Every hit of the last scan, for explanations: (rule index, term index
    /// in the rule, hit). None when this engine did not make `s`.
    pub fn last_hits<'s>(
        &'s self,
        s: &'s Scratch,
    ) -> impl Iterator<Item = (usize, usize, &'s Hit)> + 's {
        self.located(s, &s.sink.hits)
    }

    /// Indicator matches of the last scan in `s` that a term's `written:`
    /// left out (a whole address for `written: split`, a split one for
    /// `written: whole`), as `(rule index, term index in the rule, hit)`,
    /// for explanations; at most 64 per post.
    pub fn last_unwritten<'s>(
        &'s self,
        s: &'s Scratch,
    ) -> impl Iterator<Item = (usize, usize, &'s Hit)> + 's {
        self.located(s, &s.unwritten)
    }

    /// `hits` (a list of `s`) as `(rule index, term index in the rule,
    /// hit)`; nothing when this engine did not make `s`.
    fn located<'s>(
        &'s self,
        s: &Scratch,
        hits: &'s [Hit],
    ) -> impl Iterator<Item = (usize, usize, &'s Hit)> + 's {
        let hits: &[Hit] = if s.engine == self.id { hits } else { &[] };
        hits.iter().map(move |h| {
            let info = &self.terms[h.term as usize];
            let cr = &self.rules[info.rule as usize];
            (cr.index, (h.term - cr.first_term) as usize, h)
        })
    }

    /// Which `escalate` entries of one rule hold on the last scan, in order,
    /// for explanations.
    pub fn explain_grades(
        &self,
        rule_index: usize,
        fields: &[(&str, &str)],
        s: &mut Scratch,
    ) -> Vec<bool> {
        match self.last_scan_facts(rule_index, fields, s) {
            Some((rule, facts)) => rule.escalate.iter().map(|g| g.when.eval(&facts)).collect(),
            None => Vec::new(),
        }
    }

    /// Evaluates one rule of the last scan in detail, for explanations:
    /// (condition holds, unless holds). None for a rule this engine does not
    /// run, or a scratch this engine did not make.
    pub fn explain_rule(
        &self,
        rule_index: usize,
        fields: &[(&str, &str)],
        s: &mut Scratch,
    ) -> Option<(bool, bool)> {
        let (rule, facts) = self.last_scan_facts(rule_index, fields, s)?;
        Some((
            rule.condition.eval(&facts),
            rule.unless.as_ref().is_some_and(|u| u.eval(&facts)),
        ))
    }
}

struct RuleFacts<'a> {
    engine: &'a Engine,
    scratch: &'a mut Scratch,
    first: u32,
    fields: &'a [(&'a str, &'a str)],
}

impl Facts for RuleFacts<'_> {
    fn count(&self, term: usize) -> u32 {
        self.scratch.sink.counts[self.first as usize + term]
    }

    fn holds(&self, term: usize) -> bool {
        let g = self.first as usize + term;
        let c = self.scratch.sink.counts[g];
        if c == 0 || c < self.engine.terms[g].min_count {
            return false;
        }
        match self.engine.score_of(self.scratch, g) {
            Some((score, at_least)) => score >= at_least,
            None => true,
        }
    }

    fn near(&self, a: usize, b: usize, words: u32) -> bool {
        if !self.holds(a) || !self.holds(b) {
            return false;
        }
        let s = &*self.scratch;
        let (a0, a1) = s.term_hits[self.first as usize + a];
        let (b0, b1) = s.term_hits[self.first as usize + b];
        let ha = &s.sink.hits[a0 as usize..a1 as usize];
        let hb = &s.sink.hits[b0 as usize..b1 as usize];
        for x in ha {
            for y in hb {
                if x.field != y.field {
                    continue;
                }
                if let Some(d) = word_distance(s, self.fields, x, y) {
                    if d <= words {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn quoted(&self, term: usize) -> bool {
        self.quote_test(term, true)
    }

    fn any_quoted(&self, term: usize) -> bool {
        self.quote_test(term, false)
    }

    fn unquoted(&self, term: usize) -> bool {
        let g = self.first as usize + term;
        let s = &*self.scratch;
        let count = s.sink.counts[g];
        if count == 0 {
            return false;
        }
        let (t0, t1) = s.term_hits[g];
        let hits = &s.sink.hits[t0 as usize..t1 as usize];
        let mut spans = self.no_spans();
        // Matches past the ones kept (a term matching hundreds of times in
        // one post) are counted as outside.
        let mut outside = count - hits.len() as u32;
        for h in hits {
            if !self.inside(&mut spans, h) {
                outside += 1;
            }
        }
        if outside < self.engine.terms[g].min_count.max(1) {
            return false;
        }
        match self
            .engine
            .score_where(s, g, |h| !self.inside(&mut spans, h))
        {
            Some((score, at_least)) => score >= at_least,
            None => true,
        }
    }
}

impl RuleFacts<'_> {
    /// Whether every match (`every`) or some match of the term lies inside a
    /// quotation; false when the term does not hold.
    fn quote_test(&self, term: usize, every: bool) -> bool {
        if !self.holds(term) {
            return false;
        }
        let s = &*self.scratch;
        let (t0, t1) = s.term_hits[self.first as usize + term];
        let hits = &s.sink.hits[t0 as usize..t1 as usize];
        let mut spans = self.no_spans();
        let mut inside = |h: &Hit| self.inside(&mut spans, h);
        if every {
            hits.iter().all(&mut inside)
        } else {
            hits.iter().any(&mut inside)
        }
    }
}

impl RuleFacts<'_> {
    /// Quotation spans of each field, found when first needed.
    fn no_spans(&self) -> Vec<Option<Vec<(usize, usize)>>> {
        vec![None; self.fields.len()]
    }

    /// Whether a hit lies inside a quotation of its field's raw text.
    fn inside(&self, spans: &mut [Option<Vec<(usize, usize)>>], h: &Hit) -> bool {
        let f = h.field as usize;
        let Some((_, text)) = self.fields.get(f) else {
            return false;
        };
        let spans = spans[f].get_or_insert_with(|| quote_spans(text));
        let (a, b) = (h.start as usize, h.end as usize);
        spans.iter().any(|&(x, y)| x <= a && b <= y)
    }
}

/// The byte spans of `text` inside quotation marks, outermost quotations
/// only: “…”, „…“ and „…”, «…» and »…«, ‹…› and ›…‹, "…", 「…」 and 『…』,
/// and single quotes ‘…’, ‚…‘ (German), ‚…’ and '…' where they stand as
/// quotation marks: a single quote
/// opens only at the start of the text or after a space or an opening
/// bracket or colon, with a non-space after it, and closes only after a
/// non-space with no letter or digit after it, so the apostrophes of
/// bay'ah, l'État, don’t and the brothers' camp neither open nor close one.
/// A quotation left open at the end of the text is not one.
pub(crate) fn quote_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Vec<char> = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let top = open.last().copied();
        let (closes, opens) = if matches!(c, '\'' | '‘' | '’' | '‚') {
            let can_close = prev.is_some_and(|p| !p.is_whitespace())
                && !next.is_some_and(|n| n.is_alphanumeric());
            let can_open = prev
                .is_none_or(|p| p.is_whitespace() || matches!(p, '(' | '[' | ':' | '—' | '–'))
                && next.is_some_and(|n| !n.is_whitespace());
            (
                can_close
                    && matches!(
                        (top, c),
                        (Some('\''), '\'') | (Some('‘'), '’') | (Some('‚'), '‘' | '’')
                    ),
                can_open && matches!(c, '\'' | '‘' | '‚'),
            )
        } else {
            (
                matches!(
                    (top, c),
                    (Some('"'), '"')
                        | (Some('“'), '”')
                        | (Some('„'), '“' | '”')
                        | (Some('«'), '»')
                        | (Some('»'), '«')
                        | (Some('‹'), '›')
                        | (Some('›'), '‹')
                        | (Some('「'), '」')
                        | (Some('『'), '』')
                ),
                matches!(c, '"' | '“' | '„' | '«' | '»' | '‹' | '›' | '「' | '『'),
            )
        };
        if closes {
            open.pop();
            if open.is_empty() {
                spans.push((start, i + c.len_utf8()));
            }
        } else if opens {
            if open.is_empty() {
                start = i;
            }
            open.push(c);
        }
        prev = Some(c);
    }
    spans
}

/// Words between the end of the earlier match and the start of the later one,
/// counted on the folded text (so `j.o.i.n` is one word): adjacent words are 1
/// apart, overlapping matches 0.
fn word_distance(s: &Scratch, fields: &[(&str, &str)], x: &Hit, y: &Hit) -> Option<u32> {
    let f = x.field as usize;
    let folded = s.folded(f)?;
    let _ = fields;
    let pos = |h: &Hit| -> (usize, usize) {
        if h.folded_start != u32::MAX {
            (h.folded_start as usize, h.folded_end as usize)
        } else {
            (
                folded_pos(folded, h.start as usize),
                folded_pos(folded, h.end as usize),
            )
        }
    };
    let (xs, xe) = pos(x);
    let (ys, ye) = pos(y);
    let (first_end, second_start) = if xe <= ys {
        (xe, ys)
    } else if ye <= xs {
        (ye, xs)
    } else {
        return Some(0);
    };
    let bytes = folded.as_str().as_bytes();
    // Spaces strictly inside [first_end - 1, second_start) separate the words.
    let lo = first_end.saturating_sub(1).min(bytes.len());
    let hi = second_start.min(bytes.len());
    Some(memchr::memchr_iter(b' ', &bytes[lo..hi]).count() as u32)
}

/// The first folded byte offset whose raw span starts at or after `raw`: where
/// a raw-view match sits in the folded text, for counting words.
fn folded_pos(f: &FoldedText, raw: usize) -> usize {
    let text = f.as_str();
    let next = |i: usize| {
        (i + 1..=text.len())
            .find(|&j| text.is_char_boundary(j))
            .unwrap_or(text.len())
    };
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mut mid = lo + (hi - lo) / 2;
        while !text.is_char_boundary(mid) {
            mid -= 1;
        }
        let after = next(mid);
        if f.raw_span(mid, after).0 < raw {
            lo = after;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod quote_tests {
    use super::quote_spans;

    fn quoted(text: &str) -> Vec<&str> {
        quote_spans(text)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect()
    }

    #[test]
    fn finds_each_kind_of_quotation() {
        assert_eq!(quoted(r#"He wrote "join us" and left."#), [r#""join us""#]);
        assert_eq!(quoted("He wrote “join us” twice"), ["“join us”"]);
        assert_eq!(quoted("Er schrieb „komm zu uns“ und"), ["„komm zu uns“"]);
        assert_eq!(quoted("Er schrieb „komm zu uns” und"), ["„komm zu uns”"]);
        assert_eq!(
            quoted("Il a écrit « rejoins-nous » hier"),
            ["« rejoins-nous »"]
        );
        assert_eq!(quoted("Er schrieb »komm« und"), ["»komm«"]);
        assert_eq!(quoted("نشر «انضموا» ثم"), ["«انضموا»"]);
        assert_eq!(
            quoted("He posted 'Who will be a munasir?' daily"),
            ["'Who will be a munasir?'"]
        );
        assert_eq!(quoted("He posted ‘join us’ daily"), ["‘join us’"]);
        // German and Swiss single quotation marks
        assert_eq!(
            quoted("Posts über ‚Hijrah nach Sham‘ teilen"),
            ["‚Hijrah nach Sham‘"]
        );
        assert_eq!(
            quoted("Er schrieb ›komm‹ und ‹viens› fin"),
            ["›komm‹", "‹viens›"]
        );
        // a low comma-like mark inside a word opens nothing
        assert_eq!(quoted("a‚b"), Vec::<&str>::new());
    }

    #[test]
    fn apostrophes_inside_single_quotes_do_not_close_them() {
        assert_eq!(
            quoted("Slide 3: 'Sham is calling, don't wait, no more 'next year'.' Escalate."),
            ["'Sham is calling, don't wait, no more 'next year'.'"]
        );
        assert_eq!(
            quoted("He wrote ‘the brothers’ land waits, bay'ah now’ and"),
            ["‘the brothers’"]
        );
        assert_eq!(quoted("an open 'quote to the end"), Vec::<&str>::new());
    }

    #[test]
    fn nested_quotations_make_one_span_and_open_ones_none() {
        assert_eq!(
            quoted(r#"« il a dit "viens" puis » fin"#),
            [r#"« il a dit "viens" puis »"#]
        );
        assert_eq!(quoted(r#"a 5" screen, join us"#), Vec::<&str>::new());
        assert_eq!(quoted("bay'ah to the l'État now"), Vec::<&str>::new());
        assert_eq!(quoted("the brothers' camp, don’t go"), Vec::<&str>::new());
        assert_eq!(quoted("“a” and “b”"), ["“a”", "“b”"]);
    }
}
