//! Literal strategies: whole words of the folded view in the word set
//! ([`super::words`]), the other literals in Aho-Corasick automata, the long
//! address-like entries of the raw view behind a run-length gate.

use std::collections::HashMap;

use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa, nfa, MatchKind as AcMatchKind};

use super::words::WordSet;
use super::{BuildError, Target};
/// Patterns above this count use the contiguous NFA instead of the DFA: the
/// DFA is faster to search but its build time and memory grow with the
/// pattern count.
const DFA_PATTERN_LIMIT: usize = 30_000;

/// Literal groups up to this many patterns are searched with a packed (SIMD)
/// test for any of them before the automaton runs.
const PACKED_PATTERN_LIMIT: usize = 64;

/// The literal automaton, kept as its concrete type so the search loop is
/// monomorphised (a `dyn` automaton costs a virtual call per byte).
pub(super) enum LiteralAutomaton {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl LiteralAutomaton {
    /// Calls `f(pattern, start, end)` for every occurrence of every pattern,
    /// overlapping ones included.
    #[inline]
    pub(super) fn for_each_match(&self, hay: &[u8], f: impl FnMut(usize, usize, usize)) {
        match self {
            LiteralAutomaton::Dfa(a) => overlapping(a, hay, f),
            LiteralAutomaton::Nfa(a) => overlapping(a, hay, f),
        }
    }
}

impl LiteralGroup {
    /// False when the gate proves no pattern can occur in `hay`.
    #[inline]
    pub(super) fn admits(&self, hay: &[u8]) -> bool {
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
pub(super) struct RunGate {
    pub(super) alphabet: [bool; 256],
    pub(super) min_len: usize,
}

/// Gates are worth it only for long patterns.
pub(super) const GATE_MIN_LEN: usize = 8;

impl RunGate {
    /// `caseless`: the patterns match in any ASCII case.
    pub(super) fn for_patterns(patterns: &[String], caseless: bool) -> Option<RunGate> {
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
    pub(super) fn admits(&self, hay: &[u8]) -> bool {
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

pub(super) struct LiteralGroup {
    gate: Option<RunGate>,
    /// For a small group, a SIMD (Teddy) search for any of its patterns:
    /// most posts have none, and the automaton's own prefilter, keyed on
    /// first bytes like `t`, stops on nearly every word.
    packed: Option<aho_corasick::packed::Searcher>,
    pub(super) ac: LiteralAutomaton,
    /// Per pattern, a range into `targets`.
    pub(super) ranges: Vec<(u32, u32)>,
    pub(super) targets: Vec<Target>,
}

/// Whole-word literals of the folded view (see [`words`]).
pub(super) struct WordGroup {
    pub(super) set: WordSet,
    /// Per pattern, a range into `targets`.
    pub(super) ranges: Vec<(u32, u32)>,
    pub(super) targets: Vec<Target>,
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
pub(super) struct LiteralBuilder {
    pub(super) patterns: Vec<String>,
    index: HashMap<String, u32>,
    targets: Vec<Vec<Target>>,
    /// Match the patterns without regard to ASCII case.
    caseless: bool,
}

impl LiteralBuilder {
    /// Splits a builder in two by entry and target: those `left` picks and
    /// the rest. An entry picked for some targets and not others goes to
    /// both, each with its own targets.
    pub(super) fn split(
        self,
        left: impl Fn(&str, &Target) -> bool,
    ) -> (LiteralBuilder, LiteralBuilder) {
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

    /// A copy of the entries and targets that `keep` picks.
    pub(super) fn picked(&self, keep: impl Fn(&str, &Target) -> bool) -> LiteralBuilder {
        let mut out = LiteralBuilder::default();
        for (pattern, targets) in self.patterns.iter().zip(&self.targets) {
            for t in targets {
                if keep(pattern, t) {
                    out.add(pattern.clone(), *t);
                }
            }
        }
        out
    }

    /// The same entries in lower case, matched without regard to ASCII case;
    /// entries that differ only in case become one.
    pub(super) fn lowercased(self) -> LiteralBuilder {
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

    /// `make`: [`WordSet::new`], or [`WordSet::for_stems`] for the set of
    /// prefixed Arabic readings.
    pub(super) fn build_words(self, make: fn(&[&str]) -> WordSet) -> Option<WordGroup> {
        if self.patterns.is_empty() {
            return None;
        }
        let refs: Vec<&str> = self.patterns.iter().map(String::as_str).collect();
        let set = make(&refs);
        let (ranges, targets) = flatten(self.targets);
        Some(WordGroup {
            set,
            ranges,
            targets,
        })
    }

    pub(super) fn add(&mut self, pattern: String, target: Target) {
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

    pub(super) fn build(self) -> Result<Option<LiteralGroup>, BuildError> {
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
