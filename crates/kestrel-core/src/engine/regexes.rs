//! Regex strategies: all regexes of one view in one multi-pattern regex,
//! those with literal parts started only by a trigger automaton.

use std::collections::HashMap;

use aho_corasick::{dfa, MatchKind as AcMatchKind};
use regex_automata::{meta, Input, MatchKind, PatternSet};

use super::literal::LiteralAutomaton;
use super::scratch::raw_bounded;
use super::{BuildError, Target};
use crate::normalize;
use crate::rules::View;

/// All regexes of one view. A regex whose every match must contain one of a
/// few literals (found by regex-syntax's literal extractor, e.g. `usd`,
/// `btc`, `dolar` for an amount pattern) runs only on posts where the
/// trigger automaton saw one of them; the rest share one multi-pattern regex
/// that tells which of them match at all. Either way a regex's own matches
/// are found only when it can match, which keeps regexes with Unicode word
/// boundaries off the hot path.
pub(super) struct RegexGroup {
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
pub(super) struct RegexMarks {
    marked: Vec<bool>,
    list: Vec<u32>,
    /// Which of the untriggered regexes match; sized for the group's set.
    patset: Option<PatternSet>,
}

impl RegexMarks {
    pub(super) fn for_group(group: Option<&RegexGroup>) -> RegexMarks {
        RegexMarks {
            marked: vec![false; group.map_or(0, |g| g.each.len())],
            list: Vec::new(),
            patset: group
                .and_then(|g| g.set.as_ref())
                .map(|set| PatternSet::new(set.pattern_len())),
        }
    }
}

pub(super) struct RegexBuilder {
    pub(super) size_limit: usize,
    pub(super) dfa_size_limit: usize,
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
    pub(super) fn add(&mut self, compiled_pattern: String, target: Target) -> Result<(), String> {
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

    pub(super) fn build(self) -> Result<Option<RegexGroup>, BuildError> {
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
    pub(super) fn matches(
        &self,
        text: &str,
        marks: &mut RegexMarks,
        mut f: impl FnMut(u32, usize, usize),
    ) {
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
