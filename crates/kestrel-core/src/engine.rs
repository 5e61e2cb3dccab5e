//! The compiled matcher: a [`RuleSet`] becomes one [`Engine`].
//!
//! Like ripgrep's globset, every term is sorted into a strategy once, at
//! build time, and each strategy runs once per post field. globset looks
//! whole literals up in a hash map and keeps Aho-Corasick for prefixes and
//! suffixes; kestrel does the same with words:
//!
//! - folded-view literals wanted as whole words (`words`, and lists in the
//!   folded view), the bulk of any pack, go into one word set ([`words`]):
//!   folded text is words separated by single spaces, so a whole-word match
//!   can only start at a word, and one hash probe per word (one word, or two
//!   for phrases) finds every pattern there;
//! - the other literals (`substrings`, raw-view lists) go into one
//!   Aho-Corasick automaton per view, with the long address-like entries of
//!   the raw view in an automaton of their own behind a run-length gate;
//! - every regex goes into ONE multi-pattern regex per view (a set test, then
//!   the individual regexes only for the patterns that matched), started by
//!   their literal parts where they have them;
//! - the indicator kinds go into one detector set.
//!
//! Each pattern maps back to the terms that own it. A post is folded once per
//! field, and only the rules that own a hit are evaluated.
//!
//! The engine is immutable, `Send + Sync`, and meant to be shared behind an
//! `Arc` and swapped whole on reload. Callers own a [`Scratch`] per thread,
//! made by [`Engine::new_scratch`], and a [`Matches`] for the output, so
//! scanning reuses their buffers. A scratch remembers the engine that made it:
//! handed to another engine (after a reload), it is rebuilt for that engine
//! before the scan, so no buffer sized for the old rules can hide a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa, nfa, MatchKind as AcMatchKind};
use regex_automata::meta;
use regex_automata::{Input, MatchKind, PatternSet};

use crate::indicators::{IndicatorKind, IndicatorMatch, IndicatorSet};
use crate::normalize::{self, FoldedText};
use crate::rules::condition::{Expr, Facts};
use crate::rules::{Rule, RuleSet, Severity, Status, Term, TermKind, View};

mod words;
use words::WordSet;

/// Patterns above this count use the contiguous NFA instead of the DFA: the
/// DFA is faster to search but its build time and memory grow with the
/// pattern count.
const DFA_PATTERN_LIMIT: usize = 30_000;
/// Literal groups up to this many patterns are searched with a packed (SIMD)
/// test for any of them before the automaton runs.
const PACKED_PATTERN_LIMIT: usize = 64;
/// Hits kept per term and post for evidence and proximity; counts go on.
const MAX_HITS_PER_TERM: u32 = 256;
/// Evidence spans reported per alert.
pub const MAX_EVIDENCE: usize = 64;

/// Errors building an engine from a rule set that loaded.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A regex term did not compile.
    #[error("rule '{rule}', term '{term}': regex '{pattern}': {message}")]
    Regex {
        /// Rule id.
        rule: String,
        /// Term name.
        term: String,
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        message: String,
    },
    /// The literal automaton could not be built.
    #[error("literal automaton: {0}")]
    Literals(String),
    /// The combined regex could not be built.
    #[error("combined regex: {0}")]
    RegexSet(String),
    /// Too many distinct post fields named by rules.
    #[error("rules name {0} distinct post fields; at most 62 are supported")]
    TooManyFields(usize),
}

/// Options that come from configuration rather than rule files.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Configured text field names, in order; the first is where a plain
    /// string test post goes.
    pub text_fields: Vec<String>,
    /// Build rules with status `disabled` too (for `rules test`).
    pub include_disabled: bool,
    /// Match the folded view's whole-word literals with the word set (the
    /// default). When false they go into the folded-view Aho-Corasick
    /// automaton with the other literals: slower on large packs, kept as the
    /// reference the word set is tested and benchmarked against.
    pub word_set: bool,
    /// The rule set's limits; the engine compiles regexes within their
    /// `regex_size_limit` and `regex_dfa_size_limit`, as the loader checked.
    pub limits: crate::rules::RuleLimits,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            text_fields: vec!["text".to_string()],
            include_disabled: false,
            word_set: true,
            limits: crate::rules::RuleLimits::default(),
        }
    }
}

/// Which pattern of which automaton leads to which term.
#[derive(Clone, Copy, Debug)]
struct Target {
    term: u32,
    whole_word: bool,
}

#[derive(Clone, Copy, Debug)]
struct TermInfo {
    rule: u32,
    min_count: u32,
    /// Bit i: the term sees engine field i; bit 63: fields no rule names.
    fields: u64,
    /// Used by the condition (true) or only by `unless` (false).
    evidence: bool,
}

/// All regexes of one view. A regex whose every match must contain one of a
/// few literals (found by regex-syntax's literal extractor, e.g. `usd`,
/// `btc`, `dolar` for an amount pattern) runs only on posts where the
/// trigger automaton saw one of them; the rest share one multi-pattern regex
/// that tells which of them match at all. Either way a regex's own matches
/// are found only when it can match, which keeps regexes with Unicode word
/// boundaries off the hot path.
struct RegexGroup {
    /// Literal triggers and the regexes each may start.
    triggers: Option<Triggers>,
    /// The untriggered regexes as one set; set pattern i is regex `untriggered[i]`.
    set: Option<meta::Regex>,
    untriggered: Vec<u32>,
    each: Vec<regex::Regex>,
    targets: Vec<Target>,
}

/// Trigger literals of a regex group.
struct Triggers {
    ac: LiteralAutomaton,
    /// Per literal pattern, a range into `regexes`.
    ranges: Vec<(u32, u32)>,
    regexes: Vec<u32>,
}

/// Per-scan marks of which regexes of a group may match, sized for one
/// group by [`RegexMarks::for_group`].
struct RegexMarks {
    marked: Vec<bool>,
    list: Vec<u32>,
    /// Which of the untriggered regexes match; sized for the group's set.
    patset: Option<PatternSet>,
}

impl RegexMarks {
    fn for_group(group: Option<&RegexGroup>) -> RegexMarks {
        RegexMarks {
            marked: vec![false; group.map_or(0, |g| g.each.len())],
            list: Vec::new(),
            patset: group
                .and_then(|g| g.set.as_ref())
                .map(|set| PatternSet::new(set.pattern_len())),
        }
    }
}

/// The literal automaton, kept as its concrete type so the search loop is
/// monomorphised (a `dyn` automaton costs a virtual call per byte).
enum LiteralAutomaton {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl LiteralAutomaton {
    /// Calls `f(pattern, start, end)` for every occurrence of every pattern,
    /// overlapping ones included.
    #[inline]
    fn for_each_match(&self, hay: &[u8], f: impl FnMut(usize, usize, usize)) {
        match self {
            LiteralAutomaton::Dfa(a) => overlapping(a, hay, f),
            LiteralAutomaton::Nfa(a) => overlapping(a, hay, f),
        }
    }
}

impl LiteralGroup {
    /// False when the gate proves no pattern can occur in `hay`.
    #[inline]
    fn admits(&self, hay: &[u8]) -> bool {
        self.gate.as_ref().is_none_or(|g| g.admits(hay))
            && self.packed.as_ref().is_none_or(|p| p.find(hay).is_some())
    }
}

/// Overlapping search through the crate's own loop (which uses the
/// automaton's prefilter from the start state), on a concrete automaton type.
#[inline(always)]
fn overlapping<A: Automaton>(a: &A, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
    let input = aho_corasick::Input::new(hay);
    let mut state = aho_corasick::automaton::OverlappingState::start();
    while a.try_find_overlapping(&input, &mut state).is_ok() {
        match state.get_match() {
            Some(m) => f(m.pattern().as_usize(), m.start(), m.end()),
            None => break,
        }
    }
}

/// A cheap test that rules out every pattern of a group: when all patterns
/// are long runs over a small set of bytes (wallet addresses in raw lists),
/// a text without such a run cannot hold any of them, and most posts skip the
/// automaton altogether.
struct RunGate {
    alphabet: [bool; 256],
    min_len: usize,
}

/// Gates are worth it only for long patterns.
const GATE_MIN_LEN: usize = 8;

impl RunGate {
    /// `caseless`: the patterns match in any ASCII case.
    fn for_patterns(patterns: &[String], caseless: bool) -> Option<RunGate> {
        let min_len = patterns.iter().map(String::len).min()?;
        if min_len < GATE_MIN_LEN {
            return None;
        }
        let mut alphabet = [false; 256];
        for p in patterns {
            for &b in p.as_bytes() {
                alphabet[b as usize] = true;
                if caseless {
                    alphabet[b.to_ascii_uppercase() as usize] = true;
                    alphabet[b.to_ascii_lowercase() as usize] = true;
                }
            }
        }
        Some(RunGate { alphabet, min_len })
    }

    /// True when `hay` has a run of at least `min_len` alphabet bytes. Any
    /// such run covers one of every `min_len` positions, so only those are
    /// tested, and the run around a hit is measured.
    #[inline]
    fn admits(&self, hay: &[u8]) -> bool {
        let l = self.min_len;
        let inside = |i: usize| self.alphabet[hay[i] as usize];
        let mut i = l - 1;
        while i < hay.len() {
            if !inside(i) {
                i += l;
                continue;
            }
            let mut a = i;
            while a > 0 && inside(a - 1) {
                a -= 1;
            }
            let mut b = i + 1;
            while b < hay.len() && b - a < l && inside(b) {
                b += 1;
            }
            if b - a >= l {
                return true;
            }
            // `hay[b]` ends the run (or the text): a longer run starts after it.
            i = b + l;
        }
        false
    }
}

struct LiteralGroup {
    gate: Option<RunGate>,
    /// For a small group, a SIMD (Teddy) search for any of its patterns:
    /// most posts have none, and the automaton's own prefilter, keyed on
    /// first bytes like `t`, stops on nearly every word.
    packed: Option<aho_corasick::packed::Searcher>,
    ac: LiteralAutomaton,
    /// Per pattern, a range into `targets`.
    ranges: Vec<(u32, u32)>,
    targets: Vec<Target>,
}

/// Whole-word literals of the folded view (see [`words`]).
struct WordGroup {
    set: WordSet,
    /// Per pattern, a range into `targets`.
    ranges: Vec<(u32, u32)>,
    targets: Vec<Target>,
}

/// A compiled rule as the engine keeps it.
#[derive(Debug)]
struct CompiledRule {
    /// Index into the rule set.
    index: usize,
    first_term: u32,
    term_count: u32,
    shadow: bool,
    /// Per `escalate` entry, the local terms its `when` names: evidence
    /// when that grade holds.
    grade_terms: Vec<Vec<u32>>,
}

/// The compiled, immutable matcher for one rule set.
pub struct Engine {
    /// Unique per built engine in this process; ties each [`Scratch`] to it.
    id: u64,
    set: Arc<RuleSet>,
    rules: Vec<CompiledRule>,
    terms: Vec<TermInfo>,
    /// Folded-view literals wanted as whole words.
    folded_words: Option<WordGroup>,
    /// Folded-view literals wanted anywhere (substrings).
    folded: Option<LiteralGroup>,
    /// Raw-view literals: long address-like entries behind a run-length
    /// gate, and the rest.
    raw: Vec<LiteralGroup>,
    folded_regex: Option<RegexGroup>,
    raw_regex: Option<RegexGroup>,
    indicators: Option<(IndicatorSet, Vec<(IndicatorKind, u32)>)>,
    /// Rules whose condition holds on a post with no match at all.
    always: Vec<u32>,
    field_names: Vec<String>,
    /// How many of `field_names` come from configuration (the first ones).
    configured_fields: usize,
    /// Union of the field masks of folded-view terms.
    folded_fields: u64,
    has_near: bool,
    default_field: String,
    literal_count: usize,
}

/// One match of one term, as a span of the raw field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Global term index.
    term: u32,
    /// Index of the field in the post as given to [`Engine::scan`].
    pub field: u16,
    /// Raw byte offset, inclusive.
    pub start: u32,
    /// Raw byte offset, exclusive.
    pub end: u32,
    /// Folded byte offset of the start, or `u32::MAX` for raw-view hits.
    folded_start: u32,
    /// Folded byte offset of the end, or `u32::MAX`.
    folded_end: u32,
    /// The detector, for indicator hits.
    pub indicator: Option<IndicatorKind>,
    /// The detector's note (e.g. "unchecksummed").
    pub note: Option<&'static str>,
}

impl Hit {
    /// The span in the folded text, for hits found there.
    pub fn folded_span(&self) -> Option<(usize, usize)> {
        (self.folded_start != u32::MAX)
            .then_some((self.folded_start as usize, self.folded_end as usize))
    }
}

/// One piece of evidence of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// Index of the term in its rule's `terms`.
    pub term: u32,
    /// Index of the field in the post as given to [`Engine::scan`].
    pub field: u16,
    /// Raw byte offset, inclusive.
    pub start: u32,
    /// Raw byte offset, exclusive.
    pub end: u32,
    /// The detector, for indicator hits.
    pub indicator: Option<IndicatorKind>,
    /// The detector's note.
    pub note: Option<&'static str>,
}

/// A rule that fired on a post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firing {
    /// Index into [`RuleSet::rules`] of the engine's set.
    pub rule: usize,
    /// The rule is in shadow: its alert is marked and counted apart.
    pub shadow: bool,
    /// Range into [`Matches::evidence`].
    pub evidence: std::ops::Range<usize>,
    /// Matches of the evidence terms left out of `evidence` by the cap.
    pub evidence_omitted: u32,
    /// The alert's severity: the highest of the rule's `severity` and of
    /// every `escalate` entry whose `when` holds.
    pub severity: Severity,
    /// The `escalate` entry (index into [`Rule::escalate`]) that raised the
    /// severity, when one did.
    pub escalated_by: Option<usize>,
}

/// The output of a scan, reused across posts.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// Rules that fired, in rule-set order.
    pub firings: Vec<Firing>,
    /// Evidence of all firings.
    pub evidence: Vec<Evidence>,
}

impl Matches {
    /// Empties the buffers, keeping their memory.
    pub fn clear(&mut self) {
        self.firings.clear();
        self.evidence.clear();
    }
}

/// Per-thread working memory for [`Engine::scan`], made by
/// [`Engine::new_scratch`] and sized for that engine.
pub struct Scratch {
    /// The engine this scratch was made for (see [`Engine::new_scratch`]).
    engine: u64,
    folded: Vec<FoldedText>,
    folded_valid: Vec<bool>,
    sink: HitSink,
    /// Per global term: range of its hits in `hits` after sorting.
    term_hits: Vec<(u32, u32)>,
    rule_seen: Vec<bool>,
    candidates: Vec<u32>,
    regex_marks: RegexMarks,
    raw_regex_marks: RegexMarks,
    found: Vec<IndicatorMatch>,
    /// Per field: folded byte offsets of spaces, built when `near` needs them.
    spaces: Vec<Vec<u32>>,
    spaces_valid: Vec<bool>,
    field_ids: Vec<u8>,
}

impl Scratch {
    /// The folded text of field `i` of the last scanned post, if it was folded.
    pub fn folded(&self, field: usize) -> Option<&FoldedText> {
        match self.folded_valid.get(field) {
            Some(true) => self.folded.get(field),
            _ => None,
        }
    }
}

impl Engine {
    /// Compiles a rule set. Rules with status `disabled` are left out unless
    /// `options.include_disabled` is set.
    pub fn build(set: Arc<RuleSet>, options: &EngineOptions) -> Result<Engine, BuildError> {
        let mut field_names: Vec<String> = options.text_fields.clone();
        for rule in &set.rules {
            for f in rule.fields.iter().flatten() {
                if !field_names.contains(f) {
                    field_names.push(f.clone());
                }
            }
        }
        if field_names.len() > 62 {
            return Err(BuildError::TooManyFields(field_names.len()));
        }
        let mut b = Builder::default();
        for r in [&mut b.folded_regex, &mut b.raw_regex] {
            r.size_limit = options.limits.regex_size_limit;
            r.dfa_size_limit = options.limits.regex_dfa_size_limit;
        }
        let mut rules = Vec::new();
        let mut terms = Vec::new();
        let mut has_near = false;
        for (index, rule) in set.rules.iter().enumerate() {
            if rule.status == Status::Disabled && !options.include_disabled {
                continue;
            }
            let rule_no = rules.len() as u32;
            let mask = match &rule.fields {
                None => u64::MAX,
                Some(fs) => fs.iter().fold(0u64, |m, f| {
                    m | 1
                        << field_names
                            .iter()
                            .position(|n| n == f)
                            .expect("field registered")
                }),
            };
            let mut in_condition = Vec::new();
            expr_terms(&rule.condition, &mut in_condition);
            has_near |=
                expr_has_near(&rule.condition) || rule.unless.as_ref().is_some_and(expr_has_near);
            let first_term = terms.len() as u32;
            for (local, term) in rule.terms.iter().enumerate() {
                let global = terms.len() as u32;
                terms.push(TermInfo {
                    rule: rule_no,
                    min_count: term.min_count,
                    fields: mask,
                    evidence: in_condition.contains(&local),
                });
                b.add_term(rule, local, global, mask)?;
            }
            let grade_terms = rule
                .escalate
                .iter()
                .map(|g| {
                    let mut v = Vec::new();
                    expr_terms(&g.when, &mut v);
                    v.into_iter().map(|t| t as u32).collect()
                })
                .collect();
            rules.push(CompiledRule {
                index,
                first_term,
                term_count: rule.terms.len() as u32,
                shadow: rule.status == Status::Shadow,
                grade_terms,
            });
        }
        let literal_count = b.folded.patterns.len() + b.raw.patterns.len();
        let (folded_words, folded) = if options.word_set {
            // Entries wanted as whole words go to the word set, the rest to
            // the automaton.
            b.folded
                .split(|pattern, t| t.whole_word && words::accepts(pattern))
        } else {
            (LiteralBuilder::default(), b.folded)
        };
        static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);
        let mut engine = Engine {
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            set: set.clone(),
            rules,
            terms,
            folded_words: folded_words.build_words(),
            folded: folded.build()?,
            raw: {
                // Long alphanumeric entries (wallet addresses and other
                // identifiers from lists), which a run-length gate keeps out
                // of most posts, apart from the rest, which would defeat it.
                // Addresses in encodings that ignore case (hex, bech32)
                // match in any casing, as wallets accept them.
                let (gated, rest) = b.raw.split(|pattern, _| {
                    pattern.len() >= GATE_MIN_LEN
                        && pattern
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b':')
                });
                let (caseless, exact) =
                    gated.split(|pattern, _| crate::indicators::is_caseless_address(pattern));
                let caseless = caseless.lowercased();
                [caseless.build()?, exact.build()?, rest.build()?]
                    .into_iter()
                    .flatten()
                    .collect()
            },
            folded_regex: b.folded_regex.build()?,
            raw_regex: b.raw_regex.build()?,
            indicators: if b.indicator_targets.is_empty() {
                None
            } else {
                let mut kinds: Vec<IndicatorKind> =
                    b.indicator_targets.iter().map(|(k, _)| *k).collect();
                kinds.sort();
                kinds.dedup();
                Some((IndicatorSet::new(&kinds), b.indicator_targets))
            },
            always: Vec::new(),
            configured_fields: options.text_fields.len(),
            field_names,
            folded_fields: b.folded_fields,
            has_near,
            default_field: options
                .text_fields
                .first()
                .cloned()
                .unwrap_or_else(|| "text".to_string()),
            literal_count,
        };
        // A rule like `not news` holds on a post with no hits at all; such
        // rules must be evaluated for every post.
        let empty = EmptyFacts;
        for (i, r) in engine.rules.iter().enumerate() {
            let rule = &engine.set.rules[r.index];
            if rule.condition.eval(&empty) && !rule.unless.as_ref().is_some_and(|u| u.eval(&empty))
            {
                engine.always.push(i as u32);
            }
        }
        Ok(engine)
    }

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
            spaces: Vec::new(),
            spaces_valid: Vec::new(),
            field_ids: Vec::new(),
        }
    }

    /// Makes `s` this engine's scratch if another engine made it.
    fn bind(&self, s: &mut Scratch) {
        if s.engine != self.id {
            *s = self.new_scratch();
        }
    }

    /// The rule set this engine was built from.
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// The rule set's hash, `sha256:…`.
    pub fn ruleset_hash(&self) -> &str {
        &self.set.hash
    }

    /// The field a plain-string test post is put in.
    pub fn default_field(&self) -> &str {
        &self.default_field
    }

    /// The configured text fields: the only fields a scanned post fills.
    pub fn text_fields(&self) -> &[String] {
        &self.field_names[..self.configured_fields]
    }

    /// How many distinct literal patterns the automata hold.
    pub fn literal_count(&self) -> usize {
        self.literal_count
    }

    /// Rules that hold on a post without any match (e.g. `not news`): they
    /// fire on almost everything and deserve a warning.
    pub fn rules_firing_on_empty_posts(&self) -> impl Iterator<Item = &Rule> {
        self.always
            .iter()
            .map(|&r| &self.set.rules[self.rules[r as usize].index])
    }

    /// Scans one post, given as `(field name, text)` pairs, and writes the
    /// rules that fired to `out` (cleared first).
    pub fn scan(&self, fields: &[(&str, &str)], scratch: &mut Scratch, out: &mut Matches) {
        out.clear();
        self.bind(scratch);
        self.collect_hits(fields, scratch);
        self.evaluate(fields, scratch, out);
    }

    fn field_id(&self, name: &str) -> u8 {
        self.field_names
            .iter()
            .position(|n| n == name)
            .map(|p| p as u8)
            .unwrap_or(63)
    }

    fn collect_hits(&self, fields: &[(&str, &str)], s: &mut Scratch) {
        s.sink.hits.clear();
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

        for (fi, (_, text)) in fields.iter().enumerate() {
            let bit = 1u64 << s.field_ids[fi];
            let fi16 = fi as u16;
            if self.folded_fields & bit != 0 || (self.has_near && !text.is_empty()) {
                normalize::fold_into(text, &mut s.folded[fi]);
                s.folded_valid[fi] = true;
            }
            if self.folded_fields & bit != 0 {
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
                        if t.whole_word
                            && !*bounded.get_or_insert_with(|| folded_bounded(ftext, fs, fe))
                        {
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
                if let Some(g) = self.folded.as_ref().filter(|g| g.admits(ftext.as_bytes())) {
                    g.ac.for_each_match(ftext.as_bytes(), |pid, fs, fe| {
                        let (a, b) = g.ranges[pid];
                        push(&g.targets[a as usize..b as usize], fs, fe);
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
                        if *kind != m.kind || self.terms[*term as usize].fields & bit == 0 {
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
        // Group hits by term, in text order, and drop duplicates (two patterns
        // of one term matching the same span).
        s.sink
            .hits
            .sort_unstable_by_key(|h| (h.term, h.field, h.start, h.end));
        s.sink.hits.dedup_by(|b, a| {
            let dup =
                a.term == b.term && a.field == b.field && a.start == b.start && a.end == b.end;
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

    fn evaluate(&self, fields: &[(&str, &str)], s: &mut Scratch, out: &mut Matches) {
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
        for &r in &candidates {
            s.rule_seen[r as usize] = false;
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
                continue;
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
            out.firings.push(Firing {
                rule: cr.index,
                shadow: cr.shadow,
                evidence: ev_start..out.evidence.len(),
                evidence_omitted: omitted,
                severity,
                escalated_by,
            });
        }
        s.candidates = candidates;
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
        for (local, g) in evidence_terms.clone() {
            let (a, b) = s.term_hits[g as usize];
            found += s.sink.counts[g as usize];
            if a < b {
                push(out, local, &s.sink.hits[a as usize]);
            }
        }
        for (local, g) in evidence_terms {
            let (a, b) = s.term_hits[g as usize];
            for h in s.sink.hits.get(a as usize + 1..b as usize).unwrap_or(&[]) {
                if out.evidence.len() - ev_start >= MAX_EVIDENCE {
                    break;
                }
                push(out, local, h);
            }
        }
        found.saturating_sub((out.evidence.len() - ev_start) as u32)
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
        let hits: &[Hit] = if s.engine == self.id {
            &s.sink.hits
        } else {
            &[]
        };
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

/// Where hits of one scan are collected.
#[derive(Default)]
struct HitSink {
    hits: Vec<Hit>,
    /// Per global term: matches seen (all of them).
    counts: Vec<u32>,
    /// Per global term: matches kept in `hits` (at most `MAX_HITS_PER_TERM`).
    stored: Vec<u32>,
    /// Terms with a non-zero count, to reset them cheaply.
    touched: Vec<u32>,
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
fn raw_bounded(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn expr_terms(e: &Expr, out: &mut Vec<usize>) {
    match e {
        Expr::Term(t) | Expr::Count(t, _, _) => out.push(*t),
        Expr::Not(x) => expr_terms(x, out),
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| expr_terms(x, out)),
        Expr::Of(_, v) => out.extend(v),
        Expr::Near(a, b, _) => out.extend([*a, *b]),
    }
}

fn expr_has_near(e: &Expr) -> bool {
    match e {
        Expr::Near(..) => true,
        Expr::Not(x) => expr_has_near(x),
        Expr::And(v) | Expr::Or(v) => v.iter().any(expr_has_near),
        _ => false,
    }
}

struct EmptyFacts;

impl Facts for EmptyFacts {
    fn count(&self, _: usize) -> u32 {
        0
    }
    fn holds(&self, _: usize) -> bool {
        false
    }
    fn near(&self, _: usize, _: usize, _: u32) -> bool {
        false
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
        c > 0 && c >= self.engine.terms[g].min_count
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

/// Per-pattern target lists as one list and a range per pattern.
fn flatten(lists: Vec<Vec<Target>>) -> (Vec<(u32, u32)>, Vec<Target>) {
    let mut ranges = Vec::with_capacity(lists.len());
    let mut targets = Vec::new();
    for t in lists {
        let a = targets.len() as u32;
        targets.extend(t);
        ranges.push((a, targets.len() as u32));
    }
    (ranges, targets)
}

#[derive(Default)]
struct LiteralBuilder {
    patterns: Vec<String>,
    index: HashMap<String, u32>,
    targets: Vec<Vec<Target>>,
    /// Match the patterns without regard to ASCII case.
    caseless: bool,
}

impl LiteralBuilder {
    /// Splits a builder in two by entry and target: those `left` picks and
    /// the rest. An entry picked for some targets and not others goes to
    /// both, each with its own targets.
    fn split(self, left: impl Fn(&str, &Target) -> bool) -> (LiteralBuilder, LiteralBuilder) {
        let mut picked = LiteralBuilder::default();
        let mut rest = LiteralBuilder::default();
        for (pattern, targets) in self.patterns.into_iter().zip(self.targets) {
            for t in targets {
                let to = if left(&pattern, &t) {
                    &mut picked
                } else {
                    &mut rest
                };
                to.add(pattern.clone(), t);
            }
        }
        (picked, rest)
    }

    /// The same entries in lower case, matched without regard to ASCII case;
    /// entries that differ only in case become one.
    fn lowercased(self) -> LiteralBuilder {
        let mut out = LiteralBuilder {
            caseless: true,
            ..LiteralBuilder::default()
        };
        for (pattern, targets) in self.patterns.into_iter().zip(self.targets) {
            for t in targets {
                out.add(pattern.to_ascii_lowercase(), t);
            }
        }
        out
    }

    fn build_words(self) -> Option<WordGroup> {
        if self.patterns.is_empty() {
            return None;
        }
        let refs: Vec<&str> = self.patterns.iter().map(String::as_str).collect();
        let set = WordSet::new(&refs);
        let (ranges, targets) = flatten(self.targets);
        Some(WordGroup {
            set,
            ranges,
            targets,
        })
    }

    fn add(&mut self, pattern: String, target: Target) {
        let id = match self.index.get(&pattern) {
            Some(&id) => id,
            None => {
                let id = self.patterns.len() as u32;
                self.index.insert(pattern.clone(), id);
                self.patterns.push(pattern);
                self.targets.push(Vec::new());
                id
            }
        };
        let list = &mut self.targets[id as usize];
        if !list
            .iter()
            .any(|t| t.term == target.term && t.whole_word == target.whole_word)
        {
            list.push(target);
        }
    }

    fn build(self) -> Result<Option<LiteralGroup>, BuildError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        let err = |e: aho_corasick::BuildError| BuildError::Literals(e.to_string());
        let gate = RunGate::for_patterns(&self.patterns, self.caseless);
        // A gated group (long wallet-like entries) is searched in few posts,
        // and its trie has many states with little sharing: the DFA would
        // cost more to build than it saves.
        let ac = if gate.is_none() && self.patterns.len() <= DFA_PATTERN_LIMIT {
            LiteralAutomaton::Dfa(
                dfa::DFA::builder()
                    .match_kind(AcMatchKind::Standard)
                    .ascii_case_insensitive(self.caseless)
                    .start_kind(aho_corasick::StartKind::Unanchored)
                    .build(&self.patterns)
                    .map_err(err)?,
            )
        } else {
            LiteralAutomaton::Nfa(
                nfa::contiguous::NFA::builder()
                    .match_kind(AcMatchKind::Standard)
                    .ascii_case_insensitive(self.caseless)
                    .build(&self.patterns)
                    .map_err(err)?,
            )
        };
        let packed =
            if gate.is_none() && !self.caseless && self.patterns.len() <= PACKED_PATTERN_LIMIT {
                aho_corasick::packed::Config::new()
                    .builder()
                    .extend(&self.patterns)
                    .build()
            } else {
                None
            };
        let (ranges, targets) = flatten(self.targets);
        Ok(Some(LiteralGroup {
            gate,
            packed,
            ac,
            ranges,
            targets,
        }))
    }
}

struct RegexBuilder {
    size_limit: usize,
    dfa_size_limit: usize,
    patterns: Vec<String>,
    each: Vec<regex::Regex>,
    targets: Vec<Target>,
}

/// At most this many trigger literals per regex; more means the literals say
/// little (a class of digits, a case-insensitive word).
const MAX_TRIGGERS_PER_REGEX: usize = 64;
/// Trigger literals shorter than this match too often to be worth it.
const MIN_TRIGGER_LEN: usize = 2;

/// Literals one of which every match of `pattern` must start or end with,
/// when such a small set of long enough literals exists.
fn trigger_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut best: Option<Vec<Vec<u8>>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut ex = Extractor::new();
        ex.kind(kind);
        let seq = ex.extract(&hir);
        let Some(lits) = seq.literals() else { continue };
        if lits.is_empty()
            || lits.len() > MAX_TRIGGERS_PER_REGEX
            || lits.iter().any(|l| l.as_bytes().len() < MIN_TRIGGER_LEN)
        {
            continue;
        }
        let cand: Vec<Vec<u8>> = lits.iter().map(|l| l.as_bytes().to_vec()).collect();
        let min = |v: &Vec<Vec<u8>>| v.iter().map(Vec::len).min().unwrap_or(0);
        if best.as_ref().is_none_or(|b| min(&cand) > min(b)) {
            best = Some(cand);
        }
    }
    best
}

/// True when a regex term has no trigger literals, so it must be tried on
/// every post (through the shared multi-pattern regex): worth a warning for
/// rule authors, since such a regex costs on every post.
pub fn regex_runs_on_every_post(pattern: &str, view: View) -> bool {
    let compiled = match view {
        View::Folded => match normalize::fold_regex(pattern) {
            Ok(p) => p,
            Err(_) => return false,
        },
        View::Raw => pattern.to_string(),
    };
    trigger_literals(&compiled).is_none()
}

impl Default for RegexBuilder {
    fn default() -> Self {
        RegexBuilder {
            size_limit: crate::rules::REGEX_SIZE_LIMIT,
            dfa_size_limit: crate::rules::REGEX_DFA_SIZE_LIMIT,
            patterns: Vec::new(),
            each: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl RegexBuilder {
    fn add(&mut self, compiled_pattern: String, target: Target) -> Result<(), String> {
        let re = regex::RegexBuilder::new(&compiled_pattern)
            .size_limit(self.size_limit)
            .dfa_size_limit(self.dfa_size_limit)
            .build()
            .map_err(|e| crate::rules::regex_message(&e))?;
        self.patterns.push(compiled_pattern);
        self.each.push(re);
        self.targets.push(target);
        Ok(())
    }

    fn build(self) -> Result<Option<RegexGroup>, BuildError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        let mut trigger_index: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        let mut untriggered = Vec::new();
        let mut untriggered_patterns = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            match trigger_literals(p) {
                Some(lits) => {
                    for l in lits {
                        let regexes = trigger_index.entry(l).or_default();
                        if !regexes.contains(&(i as u32)) {
                            regexes.push(i as u32);
                        }
                    }
                }
                None => {
                    untriggered.push(i as u32);
                    untriggered_patterns.push(p.as_str());
                }
            }
        }
        let triggers = if trigger_index.is_empty() {
            None
        } else {
            let mut lits: Vec<(Vec<u8>, Vec<u32>)> = trigger_index.into_iter().collect();
            lits.sort();
            let mut ranges = Vec::with_capacity(lits.len());
            let mut targets = Vec::new();
            for (_, regexes) in &lits {
                let a = targets.len() as u32;
                targets.extend(regexes);
                ranges.push((a, targets.len() as u32));
            }
            let ac = dfa::DFA::builder()
                .match_kind(AcMatchKind::Standard)
                .build(lits.iter().map(|(l, _)| l))
                .map_err(|e| BuildError::Literals(e.to_string()))?;
            Some(Triggers {
                ac: LiteralAutomaton::Dfa(ac),
                ranges,
                regexes: targets,
            })
        };
        let set = if untriggered_patterns.is_empty() {
            None
        } else {
            Some(
                meta::Regex::builder()
                    .configure(meta::Config::new().match_kind(MatchKind::All))
                    .build_many(&untriggered_patterns)
                    .map_err(|e| BuildError::RegexSet(e.to_string()))?,
            )
        };
        Ok(Some(RegexGroup {
            triggers,
            set,
            untriggered,
            each: self.each,
            targets: self.targets,
        }))
    }
}

impl RegexGroup {
    /// Calls `f(term, start, end)` for every non-empty match of every
    /// pattern, applying the word-boundary requirement of targets that have
    /// one (raw-view phrases; folded-view regexes say their own boundaries).
    fn matches(&self, text: &str, marks: &mut RegexMarks, mut f: impl FnMut(u32, usize, usize)) {
        marks.list.clear();
        if let Some(t) = &self.triggers {
            t.ac.for_each_match(text.as_bytes(), |pid, _, _| {
                let (a, b) = t.ranges[pid];
                for &r in &t.regexes[a as usize..b as usize] {
                    if !marks.marked[r as usize] {
                        marks.marked[r as usize] = true;
                        marks.list.push(r);
                    }
                }
            });
        }
        if let (Some(set), Some(patset)) = (&self.set, marks.patset.as_mut()) {
            patset.clear();
            set.which_overlapping_matches(&Input::new(text), patset);
            for pid in patset.iter() {
                marks.list.push(self.untriggered[pid.as_usize()]);
            }
        }
        marks.list.sort_unstable();
        for &r in &marks.list {
            let i = r as usize;
            marks.marked[i] = false;
            let target = self.targets[i];
            for m in self.each[i].find_iter(text) {
                if m.start() < m.end()
                    && (!target.whole_word || raw_bounded(text, m.start(), m.end()))
                {
                    f(target.term, m.start(), m.end());
                }
            }
        }
    }
}

#[derive(Default)]
struct Builder {
    folded: LiteralBuilder,
    raw: LiteralBuilder,
    folded_regex: RegexBuilder,
    raw_regex: RegexBuilder,
    indicator_targets: Vec<(IndicatorKind, u32)>,
    folded_fields: u64,
}

impl Builder {
    fn add_term(
        &mut self,
        rule: &Rule,
        local: usize,
        global: u32,
        mask: u64,
    ) -> Result<(), BuildError> {
        let term = &rule.terms[local];
        let TermKind::Lexicon(lex) = &term.kind else {
            return self.add_term_as(rule, term, global, mask);
        };
        // The union of the concepts' entries, each once, as the plain
        // term kinds they are: one term, so one count and one evidence.
        let [words, substrings, regex, list] = lex.union();
        let kinds = [
            (TermKind::Words(words), true),
            (TermKind::Substrings(substrings), false),
            (TermKind::Regex(regex), false),
            (
                TermKind::List {
                    path: Default::default(),
                    entries: list,
                },
                true,
            ),
        ];
        for (kind, whole_word) in kinds {
            let part = Term {
                name: term.name.clone(),
                kind,
                view: term.view,
                min_count: term.min_count,
                whole_word,
                mark: term.mark,
            };
            self.add_term_as(rule, &part, global, mask)?;
        }
        Ok(())
    }

    fn add_term_as(
        &mut self,
        rule: &Rule,
        term: &Term,
        global: u32,
        mask: u64,
    ) -> Result<(), BuildError> {
        let regex_err = |pattern: &str, message: String| BuildError::Regex {
            rule: rule.id.clone(),
            term: term.name.clone(),
            pattern: pattern.to_string(),
            message,
        };
        let literals: &[String] = match &term.kind {
            TermKind::Words(v) | TermKind::Substrings(v) => v,
            TermKind::List { entries, .. } => entries,
            TermKind::Regex(pats) => {
                for p in pats {
                    let target = Target {
                        term: global,
                        whole_word: false,
                    };
                    match term.view {
                        View::Folded => {
                            self.folded_fields |= mask;
                            let folded = normalize::fold_regex(p)
                                .map_err(|e| regex_err(p, e.to_string()))?;
                            self.folded_regex
                                .add(folded, target)
                                .map_err(|e| regex_err(p, e))?;
                        }
                        View::Raw => self
                            .raw_regex
                            .add(p.clone(), target)
                            .map_err(|e| regex_err(p, e))?,
                    }
                }
                return Ok(());
            }
            TermKind::Indicator(kinds) => {
                for k in kinds {
                    self.indicator_targets.push((*k, global));
                }
                return Ok(());
            }
            // `add_term` splits a lexicon term into the kinds above.
            TermKind::Lexicon(_) => return Ok(()),
        };
        let target = Target {
            term: global,
            whole_word: term.whole_word,
        };
        for lit in literals {
            match term.view {
                View::Folded => {
                    self.folded_fields |= mask;
                    let folded = normalize::fold(lit);
                    if !folded.is_empty() {
                        self.folded.add(folded, target);
                    }
                }
                View::Raw => {
                    // In raw view a phrase still matches across any run of
                    // spaces or punctuation, which a literal cannot express.
                    let parts: Vec<&str> = lit
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .filter(|p| !p.is_empty())
                        .collect();
                    let is_phrase = matches!(&term.kind, TermKind::Words(_)) && parts.len() > 1;
                    if is_phrase {
                        let escaped: Vec<String> = parts.iter().map(|p| regex::escape(p)).collect();
                        let pattern = escaped.join(r"[^\p{L}\p{N}_]+");
                        self.raw_regex
                            .add(pattern, target)
                            .map_err(|e| regex_err(lit, e))?;
                    } else {
                        self.raw.add(lit.clone(), target);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load_str;
    use std::path::Path;

    fn engine(yaml: &str) -> Engine {
        let loaded = load_str(Path::new("t.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
        Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap()
    }

    fn fired(e: &Engine, text: &str) -> Vec<String> {
        let mut s = e.new_scratch();
        let mut m = Matches::default();
        e.scan(&[("text", text)], &mut s, &mut m);
        m.firings
            .iter()
            .map(|f| e.rule_set().rules[f.rule].id.clone())
            .collect()
    }

    /// What a worker does across a reload: one scratch, first given to the
    /// old engine, then to the new one.
    #[test]
    fn a_scratch_met_by_a_new_engine_serves_the_new_engines_rules() {
        let old =
            engine("rules:\n- id: phone\n  terms:\n    p: {regex: '\\d{3}-\\d{4}', view: raw}\n");
        let new = engine(concat!(
            "rules:\n- id: phone\n  terms:\n    p: {regex: '\\d{3}-\\d{4}', view: raw}\n",
            "- id: date\n  terms:\n    d: {regex: '\\d{2}/\\d{2}', view: raw}\n",
            "- id: words\n  terms:\n    w: {words: [donate]}\n",
            "- id: wallet\n  terms:\n    i: {indicator: [btc]}\n",
            "- id: amount\n  terms:\n    a: {regex: '\\b\\d+ ?usd\\b'}\n",
        ));
        let post =
            "call 555-1234 on 12/05, donate 50 usd to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
        let mut s = old.new_scratch();
        let mut m = Matches::default();
        old.scan(&[("text", post)], &mut s, &mut m);
        assert_eq!(m.firings.len(), 1);
        let names = |e: &Engine, m: &Matches| -> Vec<String> {
            m.firings
                .iter()
                .map(|f| e.rule_set().rules[f.rule].id.clone())
                .collect()
        };
        for _ in 0..2 {
            new.scan(&[("text", post)], &mut s, &mut m);
            assert_eq!(
                names(&new, &m),
                ["phone", "date", "words", "wallet", "amount"]
            );
        }
        // And back: the old engine sees only its own rule, and explaining
        // with the other engine's scratch finds no hits instead of wrong ones.
        old.scan(&[("text", post)], &mut s, &mut m);
        assert_eq!(names(&old, &m), ["phone"]);
        assert_eq!(new.last_hits(&s).count(), 0);
        assert_eq!(new.explain_rule(0, &[("text", post)], &mut s), None);
    }

    #[test]
    fn regexes_with_literals_run_only_when_a_literal_is_seen() {
        assert!(!regex_runs_on_every_post(
            r"\b\d{2,6}\s?(usd|btc|dollars?)\b",
            View::Folded
        ));
        assert!(!regex_runs_on_every_post(r"join(ed)? the \w+", View::Raw));
        assert!(regex_runs_on_every_post(r"\b\d{3}-\d{4}\b", View::Raw));
        let e = engine(
            "rules:\n- id: amount\n  terms:\n    a: {regex: '\\b\\d{2,6}\\s?(usd|dollars?)\\b'}\n- id: phone\n  terms:\n    p: {regex: '\\b\\d{3}-\\d{4}\\b', view: raw}\n",
        );
        assert_eq!(fired(&e, "send 500 Dollars"), vec!["amount"]);
        assert_eq!(
            fired(&e, "call 555-1234 or send 20usd"),
            vec!["amount", "phone"]
        );
        assert!(fired(&e, "send 5 dollars").is_empty());
        assert!(fired(&e, "nothing to see").is_empty());
    }

    #[test]
    fn run_gate_admits_exactly_the_texts_with_a_long_enough_run() {
        let naive = |g: &RunGate, hay: &[u8]| {
            let mut run = 0;
            hay.iter().any(|&b| {
                run = if g.alphabet[b as usize] { run + 1 } else { 0 };
                run >= g.min_len
            })
        };
        let mut rng = crate::testrng::TestRng::new(0x9E37_79B9_7F4A_7C15);
        for min_len in [8usize, 9, 26] {
            let gate = RunGate::for_patterns(&["ab".repeat(min_len)[..min_len].to_string()], false)
                .expect("long pattern");
            for _ in 0..3000 {
                let seed = rng.next();
                let len = (seed % 90) as usize;
                // Mostly alphabet bytes, so runs of every length occur.
                let hay: Vec<u8> = (0..len)
                    .map(|i| match (seed >> (i % 60)) % 11 {
                        0 => b' ',
                        n if n % 2 == 0 => b'a',
                        _ => b'b',
                    })
                    .collect();
                assert_eq!(gate.admits(&hay), naive(&gate, &hay), "{min_len} {hay:?}");
            }
        }
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }

    #[test]
    fn only_whole_words_match_words_terms() {
        let e = engine("rules:\n- id: r\n  terms:\n    a: {words: [join]}\n");
        assert_eq!(fired(&e, "please join us"), vec!["r"]);
        assert!(fired(&e, "rejoined later").is_empty());
    }

    #[test]
    fn one_entry_wanted_as_a_whole_word_and_as_a_substring_serves_both() {
        // The same folded entry goes to the word set for one term and to the
        // automaton for the other; each term sees only its own kind of hit.
        let e = engine(
            "rules:\n- id: whole\n  terms:\n    a: {words: [join us]}\n\
             - id: inside\n  terms:\n    a: {substrings: [join us]}\n\
             - id: both\n  terms:\n    a: {words: [join us]}\n    b: {substrings: [join us]}\n  condition: a and b\n",
        );
        assert_eq!(
            fired(&e, "please join us today"),
            vec!["whole", "inside", "both"]
        );
        assert_eq!(fired(&e, "please rejoin usually"), vec!["inside"]);
        assert!(fired(&e, "join the us").is_empty());
    }

    #[test]
    fn substrings_match_inside_words() {
        let e = engine("rules:\n- id: r\n  terms:\n    a: {substrings: [joinus]}\n");
        assert_eq!(fired(&e, "#JoinUsNow"), vec!["r"]);
    }

    #[test]
    fn near_counts_words_between_matches() {
        let e = engine(
            "rules:\n- id: r\n  terms:\n    a: {words: [join]}\n    b: {words: [telegram]}\n  condition: near(a, b, 3)\n",
        );
        assert_eq!(fired(&e, "join us on telegram"), vec!["r"]);
        assert!(fired(&e, "join us and then later on telegram").is_empty());
    }

    #[test]
    fn not_only_rules_are_evaluated_without_hits() {
        let e = engine("rules:\n- id: r\n  terms:\n    a: {words: [join]}\n  condition: not a\n");
        assert_eq!(fired(&e, "hello"), vec!["r"]);
        assert!(fired(&e, "join").is_empty());
    }

    fn engine_dir(files: &[(&str, &str)]) -> Engine {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        let loaded = crate::rules::load_dir(d.path()).unwrap_or_else(|e| panic!("{e}"));
        Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap()
    }

    fn scan_one(e: &Engine, text: &str) -> (Vec<Firing>, Vec<Evidence>) {
        let mut s = e.new_scratch();
        let mut m = Matches::default();
        e.scan(&[("text", text)], &mut s, &mut m);
        (m.firings, m.evidence)
    }

    #[test]
    fn a_lexicon_term_matches_every_entry_of_its_concepts_once() {
        let e = engine_dir(&[
            (
                "en.yaml",
                "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [join]\n      substrings: [joinus]\n      regex: ['enl[i]st']\n",
            ),
            (
                "fr.yaml",
                "lexicon:\n  language: fr\n  concepts:\n    call:\n      words: [rejoignez, join, joinus]\n",
            ),
            (
                "r.yaml",
                "rules:\n- id: r\n  terms:\n    c: {lexicon: call, min_count: 2}\n",
            ),
            (
                "s.yaml",
                "rules:\n- id: s\n  terms:\n    c: {lexicon: call, languages: [fr]}\n",
            ),
        ]);
        let ids = |t: &str| -> Vec<String> {
            scan_one(&e, t)
                .0
                .iter()
                .map(|f| e.rule_set().rules[f.rule].id.clone())
                .collect()
        };
        // `join` is in both languages but counts once per occurrence.
        assert_eq!(ids("join"), vec!["s"]);
        assert_eq!(ids("join, rejoignez"), vec!["r", "s"]);
        // A CamelCase hashtag reads whole (`joinusnow`) and as its words
        // (`join us now`), so French `join` sees it too.
        assert_eq!(ids("enlist #JoinUsNow"), vec!["r", "s"]);
        assert!(ids("enlist").is_empty());
        // `joinus` is a French word and an English substring: one match,
        // not two (which would reach `r`'s min_count).
        assert_eq!(ids("joinus"), vec!["s"]);
    }

    #[test]
    fn escalate_raises_the_severity_and_adds_its_terms_as_evidence() {
        let e = engine(
            "rules:\n- id: r\n  severity: medium\n  terms:\n    call: {words: [join]}\n    contact: {words: [dm me]}\n    wallet: {indicator: [btc]}\n  condition: call\n  escalate:\n    - {when: contact, severity: high}\n    - {when: wallet, severity: critical}\n    - {when: call, severity: low}\n",
        );
        let (f, ev) = scan_one(&e, "join us");
        assert_eq!((f[0].severity, f[0].escalated_by), (Severity::Medium, None));
        assert_eq!(ev.len(), 1);
        let (f, ev) = scan_one(&e, "join us, dm me");
        assert_eq!(
            (f[0].severity, f[0].escalated_by),
            (Severity::High, Some(0))
        );
        assert_eq!(ev.iter().map(|e| e.term).collect::<Vec<_>>(), [0, 1]);
        let (f, _) = scan_one(
            &e,
            "dm me and join: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        );
        assert_eq!(
            (f[0].severity, f[0].escalated_by),
            (Severity::Critical, Some(1))
        );
        // A grade alone never fires the rule.
        assert!(scan_one(&e, "dm me").0.is_empty());
    }
}
