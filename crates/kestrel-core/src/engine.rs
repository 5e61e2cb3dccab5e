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

use std::sync::Arc;

use crate::indicators::{IndicatorKind, IndicatorMatch, IndicatorSet};
use crate::normalize::FoldedText;
use crate::rules::{Rule, RuleSet, Severity, Written};

mod build;
mod eval;
mod literal;
mod regexes;
mod scratch;
#[cfg(test)]
mod tests;
mod words;

use literal::{LiteralGroup, WordGroup};
pub use regexes::regex_runs_on_every_post;
use regexes::{RegexGroup, RegexMarks};
use scratch::HitSink;

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
    /// Indicator terms: which addresses count by how they were written.
    written: Written,
    /// Bit i: the term sees engine field i; bit 63: fields no rule names.
    fields: u64,
    /// Used by the condition (true) or only by `unless` (false).
    evidence: bool,
    /// `weights:` terms: index into [`Engine::scores`]; `u32::MAX` for the rest.
    score: u32,
}

/// A `weights:` term compiled: each entry's weight by its folded form, and
/// each `~` entry's by its light stem.
#[derive(Debug)]
struct ScoreTable {
    weights: std::collections::HashMap<Box<str>, i32>,
    stems: std::collections::HashMap<Box<str>, i32>,
    at_least: i32,
}

impl ScoreTable {
    /// The weight of an entry found: `text` in the folded text, a light
    /// stem when `stem`.
    fn weight(&self, stem: bool, text: &str) -> i32 {
        let map = if stem { &self.stems } else { &self.weights };
        map.get(text).copied().unwrap_or(0)
    }
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
    /// `fallback: true`: evaluated after the others, superseded by them.
    fallback: bool,
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
    /// Those of them that start with an Arabic word, matched again on
    /// Arabic words read without their clitic prefixes (whatever
    /// `word_set` says).
    folded_stems: Option<WordGroup>,
    /// The `~` entries of `weights:` terms: light stem -> terms that score it.
    light_stems: std::collections::HashMap<Box<str>, Vec<u32>>,
    /// Folded-view literals wanted anywhere (substrings).
    folded: Option<LiteralGroup>,
    /// Raw-view literals: long address-like entries behind a run-length
    /// gate, and the rest.
    raw: Vec<LiteralGroup>,
    folded_regex: Option<RegexGroup>,
    raw_regex: Option<RegexGroup>,
    indicators: Option<(IndicatorSet, Vec<(IndicatorKind, u32)>)>,
    /// The tables of the `weights:` terms.
    scores: Vec<ScoreTable>,
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
    /// A `weights:` term's `~` entry: the folded span is a word's light stem.
    stem: bool,
}

impl Hit {
    /// The span in the folded text, for hits found there.
    pub fn folded_span(&self) -> Option<(usize, usize)> {
        (self.folded_start != u32::MAX)
            .then_some((self.folded_start as usize, self.folded_end as usize))
    }

    /// True for a hit of a `weights:` term's `~` entry: the folded span is
    /// the light stem of the word it is in.
    pub fn is_stem(&self) -> bool {
        self.stem
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
    /// Evidence of all firings (superseded ones included).
    pub evidence: Vec<Evidence>,
    /// Fallback rules that fired on a post where another active rule of
    /// their category fired too: no alert, kept for rule tests and
    /// explanations.
    pub superseded: Vec<Firing>,
}

impl Matches {
    /// Empties the buffers, keeping their memory.
    pub fn clear(&mut self) {
        self.firings.clear();
        self.evidence.clear();
        self.superseded.clear();
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
    /// Indicator matches of the last post that a term's `written:` left
    /// out, kept (up to a cap) for explanations.
    unwritten: Vec<Hit>,
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
}
