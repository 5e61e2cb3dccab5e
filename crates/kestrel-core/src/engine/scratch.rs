//! The scratch: a scan's working memory, tied to the engine that made it,
//! and how one post's hits are collected into it.

use super::regexes::RegexMarks;
use super::{Engine, Hit, Scratch, Target};
use crate::normalize::{self, FoldedText};
/// Hits kept per term and post for evidence and proximity; counts go on.
const MAX_HITS_PER_TERM: u32 = 256;
/// Indicator matches left out by `written:` kept per post for explanations.
const MAX_UNWRITTEN: usize = 64;

impl Engine {
    /// Working memory for scanning with this engine, one per thread. A
    /// scratch given to another engine is rebuilt for it on the next scan.
    pub fn new_scratch(&self) -> Scratch {
        Scratch {
            engine: self.id,
            folded: Vec::new(),
            folded_valid: Vec::new(),
            sink: HitSink {
                hits: Vec::new(),
                counts: vec![0; self.terms.len()],
                stored: vec![0; self.terms.len()],
                touched: Vec::new(),
            },
            term_hits: vec![(0, 0); self.terms.len()],
            rule_seen: vec![false; self.rules.len()],
            candidates: Vec::new(),
            regex_marks: RegexMarks::for_group(self.folded_regex.as_ref()),
            raw_regex_marks: RegexMarks::for_group(self.raw_regex.as_ref()),
            found: Vec::new(),
            unwritten: Vec::new(),
            spaces: Vec::new(),
            spaces_valid: Vec::new(),
            field_ids: Vec::new(),
        }
    }

    /// Makes `s` this engine's scratch if another engine made it.
    pub(super) fn bind(&self, s: &mut Scratch) {
        if s.engine != self.id {
            *s = self.new_scratch();
        }
    }

    fn field_id(&self, name: &str) -> u8 {
        self.field_names
            .iter()
            .position(|n| n == name)
            .map(|p| p as u8)
            .unwrap_or(63)
    }

    pub(super) fn collect_hits(&self, fields: &[(&str, &str)], s: &mut Scratch) {
        self.reset(fields, s);
        for (fi, (_, text)) in fields.iter().enumerate() {
            let bit = 1u64 << s.field_ids[fi];
            if self.folded_fields & bit != 0 || (self.has_near && !text.is_empty()) {
                normalize::fold_into(text, &mut s.folded[fi]);
                s.folded_valid[fi] = true;
            }
            if self.folded_fields & bit != 0 {
                self.folded_hits(fi, bit, s);
            }
            self.raw_hits(fi, text, bit, s);
        }
        group_hits(s);
    }

    /// Clears the last post's hits and sizes the per-field buffers.
    fn reset(&self, fields: &[(&str, &str)], s: &mut Scratch) {
        s.sink.hits.clear();
        s.unwritten.clear();
        for t in s.sink.touched.drain(..) {
            s.sink.counts[t as usize] = 0;
            s.sink.stored[t as usize] = 0;
            s.term_hits[t as usize] = (0, 0);
        }
        if s.folded.len() < fields.len() {
            s.folded.resize_with(fields.len(), FoldedText::new);
            s.spaces.resize_with(fields.len(), Vec::new);
        }
        s.folded_valid.clear();
        s.folded_valid.resize(fields.len(), false);
        s.spaces_valid.clear();
        s.spaces_valid.resize(fields.len(), false);
        s.field_ids.clear();
        s.field_ids
            .extend(fields.iter().map(|(name, _)| self.field_id(name)));
    }

    /// Hits of the folded-view strategies (word set, substrings, regexes)
    /// in field `fi` (mask `bit`), already folded.
    fn folded_hits(&self, fi: usize, bit: u64, s: &mut Scratch) {
        let fi16 = fi as u16;
        let folded = &s.folded[fi];
        let ftext = folded.as_str();
        // A folded-view literal matched [fs, fe): a hit for each term
        // that owns it and sees this field (whole words only at word
        // edges; the word set finds no others).
        let mut push = |targets: &[Target], fs: usize, fe: usize| {
            let mut bounded = None;
            for t in targets {
                if self.terms[t.term as usize].fields & bit == 0 {
                    continue;
                }
                if t.whole_word && !*bounded.get_or_insert_with(|| folded_bounded(ftext, fs, fe)) {
                    continue;
                }
                let (rs, re) = folded.raw_span(fs, fe);
                s.sink.push(t.term, fi16, rs, re, (fs, fe));
            }
        };
        if let Some(g) = &self.folded_words {
            g.set.for_each_match(ftext.as_bytes(), |pid, fs, fe| {
                let (a, b) = g.ranges[pid];
                push(&g.targets[a as usize..b as usize], fs, fe);
            });
        }
        if let Some(g) = &self.folded_stems {
            g.set
                .for_each_prefixed_match(ftext.as_bytes(), |pid, fs, fe| {
                    let (a, b) = g.ranges[pid];
                    push(&g.targets[a as usize..b as usize], fs, fe);
                });
        }
        if let Some(g) = self.folded.as_ref().filter(|g| g.admits(ftext.as_bytes())) {
            g.ac.for_each_match(ftext.as_bytes(), |pid, fs, fe| {
                let (a, b) = g.ranges[pid];
                push(&g.targets[a as usize..b as usize], fs, fe);
            });
        }
        if !self.light_stems.is_empty() {
            // `~` entries of weights terms: each Russian or Arabic word's
            // light stem, looked up whole.
            normalize::for_each_light_stem(ftext, |fs, fe| {
                let Some(targets) = self.light_stems.get(&ftext[fs..fe]) else {
                    return;
                };
                for &t in targets {
                    if self.terms[t as usize].fields & bit == 0 {
                        continue;
                    }
                    let (rs, re) = folded.raw_span(fs, fe);
                    if s.sink.push(t, fi16, rs, re, (fs, fe)) {
                        s.sink.hits.last_mut().expect("just pushed").stem = true;
                    }
                }
            });
        }
        if let Some(g) = &self.folded_regex {
            let folded = &s.folded[fi];
            g.matches(folded.as_str(), &mut s.regex_marks, |term, fs, fe| {
                if self.terms[term as usize].fields & bit == 0 {
                    return;
                }
                let (rs, re) = folded.raw_span(fs, fe);
                s.sink.push(term, fi16, rs, re, (fs, fe));
            });
        }
    }

    /// Hits of the raw-view strategies (literals, regexes, indicators) in
    /// field `fi` (mask `bit`).
    fn raw_hits(&self, fi: usize, text: &str, bit: u64, s: &mut Scratch) {
        let fi16 = fi as u16;
        for g in self.raw.iter().filter(|g| g.admits(text.as_bytes())) {
            let sink = &mut s.sink;
            g.ac.for_each_match(text.as_bytes(), |pid, rs, re| {
                let (a, b) = g.ranges[pid];
                for t in &g.targets[a as usize..b as usize] {
                    if self.terms[t.term as usize].fields & bit == 0 {
                        continue;
                    }
                    if t.whole_word && !raw_bounded(text, rs, re) {
                        continue;
                    }
                    sink.push(t.term, fi16, rs, re, (RAW, RAW));
                }
            });
        }
        if let Some(g) = &self.raw_regex {
            let sink = &mut s.sink;
            g.matches(text, &mut s.raw_regex_marks, |term, rs, re| {
                if self.terms[term as usize].fields & bit == 0 {
                    return;
                }
                sink.push(term, fi16, rs, re, (RAW, RAW));
            });
        }
        if let Some((set, targets)) = &self.indicators {
            s.found.clear();
            set.find_all(text, &mut s.found);
            for m in &s.found {
                for (kind, term) in targets {
                    let info = &self.terms[*term as usize];
                    if *kind != m.kind || info.fields & bit == 0 {
                        continue;
                    }
                    if !info.written.admits(m.note) {
                        if s.unwritten.len() < MAX_UNWRITTEN {
                            s.unwritten.push(Hit {
                                term: *term,
                                field: fi16,
                                start: m.start as u32,
                                end: m.end as u32,
                                folded_start: u32::MAX,
                                folded_end: u32::MAX,
                                indicator: Some(m.kind),
                                note: m.note,
                                stem: false,
                            });
                        }
                        continue;
                    }
                    if s.sink.push(*term, fi16, m.start, m.end, (RAW, RAW)) {
                        let last = s.sink.hits.last_mut().expect("just pushed");
                        last.indicator = Some(m.kind);
                        last.note = m.note;
                    }
                }
            }
        }
    }
}

/// Groups the hits by term, in text order, and drops duplicates (two
/// patterns of one term matching the same span). An address two detectors of
/// one term accept (a `3…` P2SH address is valid Bitcoin and Litecoin) keeps
/// the first kind in [`crate::indicators::IndicatorKind`] order, and of two
/// folded words inside one raw character that folds to several (`ﷺ`), the
/// first in the folded text is kept, whatever order the hits came in.
fn group_hits(s: &mut Scratch) {
    s.sink.hits.sort_unstable_by_key(|h| {
        (
            h.term,
            h.field,
            h.start,
            h.end,
            h.indicator,
            h.folded_start,
            h.folded_end,
        )
    });
    s.sink.hits.dedup_by(|b, a| {
        let dup = a.term == b.term && a.field == b.field && a.start == b.start && a.end == b.end;
        if dup {
            s.sink.counts[a.term as usize] -= 1;
        }
        dup
    });
    let mut i = 0;
    while i < s.sink.hits.len() {
        let t = s.sink.hits[i].term;
        let start = i;
        while i < s.sink.hits.len() && s.sink.hits[i].term == t {
            i += 1;
        }
        s.term_hits[t as usize] = (start as u32, i as u32);
    }
}

/// Where hits of one scan are collected.
#[derive(Default)]
pub(super) struct HitSink {
    pub(super) hits: Vec<Hit>,
    /// Per global term: matches seen (all of them).
    pub(super) counts: Vec<u32>,
    /// Per global term: matches kept in `hits` (at most `MAX_HITS_PER_TERM`).
    stored: Vec<u32>,
    /// Terms with a non-zero count, to reset them cheaply.
    pub(super) touched: Vec<u32>,
}

/// Marks a hit as coming from the raw view (no folded offsets).
const RAW: usize = u32::MAX as usize;

impl HitSink {
    /// Records a hit; returns false when the term already has its maximum of
    /// stored hits (the count still goes up).
    fn push(
        &mut self,
        term: u32,
        field: u16,
        start: usize,
        end: usize,
        folded: (usize, usize),
    ) -> bool {
        let t = term as usize;
        if self.counts[t] == 0 {
            self.touched.push(term);
        }
        self.counts[t] += 1;
        if self.stored[t] >= MAX_HITS_PER_TERM {
            return false;
        }
        self.stored[t] += 1;
        self.hits.push(Hit {
            term,
            field,
            start: start as u32,
            end: end as u32,
            folded_start: folded.0 as u32,
            folded_end: folded.1 as u32,
            indicator: None,
            note: None,
            stem: false,
        });
        true
    }
}

fn folded_bounded(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    (start == 0 || b[start - 1] == b' ') && (end == b.len() || b[end] == b' ')
}

/// Word boundaries in raw text: the characters just outside the span are not
/// letters or digits (or the span touches the text's edge).
pub(super) fn raw_bounded(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
}
