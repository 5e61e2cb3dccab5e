//! Building an [`Engine`]: every term of a [`RuleSet`] sorted into a strategy
//! (word set, literal automata, regex groups, indicators) once, at build time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::literal::{LiteralBuilder, LiteralGroup, GATE_MIN_LEN};
use super::regexes::RegexBuilder;
use super::words::{self, WordSet};
use super::{BuildError, CompiledRule, Engine, EngineOptions, ScoreTable, Target, TermInfo};
use crate::indicators::{IndicatorKind, IndicatorSet};
use crate::normalize;
use crate::rules::condition::Facts;
use crate::rules::{Expr, Rule, RuleSet, Status, Term, TermKind, View};

impl Engine {
    /// Compiles a rule set. Rules with status `disabled` are left out unless
    /// `options.include_disabled` is set.
    pub fn build(set: Arc<RuleSet>, options: &EngineOptions) -> Result<Engine, BuildError> {
        let field_names = field_names(&set, options)?;
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
            rule.visit_conditions(&mut |e| has_near |= matches!(e, Expr::Near(..)));
            let compiled = b.add_rule(rule, index, rules.len() as u32, &field_names, &mut terms)?;
            rules.push(compiled);
        }
        let literal_count = b.folded.patterns.len() + b.raw.patterns.len();
        // The Arabic whole words read without their clitic prefixes. Not a
        // `weights:` term's entries: they were learned from words as
        // written, and a word that is an entry of one is no reason to stop
        // reading it with prefixes for the other terms (a model holds
        // thousands of prefixed words, `بالقافله` among them, which then hid
        // the lexicon entry `القافله`).
        let folded_stems = b.folded.picked(|pattern, t| {
            t.whole_word
                && terms[t.term as usize].score == u32::MAX
                && words::accepts(pattern)
                && pattern
                    .as_bytes()
                    .first()
                    .is_some_and(|b| (0xD8..=0xDB).contains(b))
        });
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
            folded_words: folded_words.build_words(WordSet::new),
            folded_stems: folded_stems.build_words(WordSet::for_stems),
            folded: folded.build()?,
            raw: raw_groups(b.raw)?,
            folded_regex: b.folded_regex.build()?,
            raw_regex: b.raw_regex.build()?,
            indicators: indicator_set(b.indicator_targets),
            scores: b.scores,
            light_stems: b.light_stems,
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
        engine.always = engine.rules_holding_without_hits();
        Ok(engine)
    }

    /// Rules like `not news`, which hold on a post with no hits at all:
    /// they must be evaluated for every post.
    fn rules_holding_without_hits(&self) -> Vec<u32> {
        let empty = EmptyFacts;
        let mut always = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let rule = &self.set.rules[r.index];
            if rule.condition.eval(&empty) && !rule.unless.as_ref().is_some_and(|u| u.eval(&empty))
            {
                always.push(i as u32);
            }
        }
        always
    }
}

/// The configured text fields, then every other field a rule names (at
/// most 62, so a field set fits a mask).
fn field_names(set: &RuleSet, options: &EngineOptions) -> Result<Vec<String>, BuildError> {
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
    Ok(field_names)
}

/// The raw-view literal groups. Long alphanumeric entries (wallet
/// addresses and other identifiers from lists), which a run-length gate
/// keeps out of most posts, apart from the rest, which would defeat it.
/// Addresses in encodings that ignore case (hex, bech32) match in any
/// casing, as wallets accept them.
fn raw_groups(raw: LiteralBuilder) -> Result<Vec<LiteralGroup>, BuildError> {
    let (gated, rest) = raw.split(|pattern, _| {
        pattern.len() >= GATE_MIN_LEN
            && pattern
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b':')
    });
    let (caseless, exact) =
        gated.split(|pattern, _| crate::indicators::is_caseless_address(pattern));
    let caseless = caseless.lowercased();
    Ok([caseless.build()?, exact.build()?, rest.build()?]
        .into_iter()
        .flatten()
        .collect())
}

/// One detector set for every indicator kind some term asks for.
#[allow(clippy::type_complexity)]
fn indicator_set(
    targets: Vec<(IndicatorKind, u32)>,
) -> Option<(IndicatorSet, Vec<(IndicatorKind, u32)>)> {
    if targets.is_empty() {
        return None;
    }
    let mut kinds: Vec<IndicatorKind> = targets.iter().map(|(k, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    Some((IndicatorSet::new(&kinds), targets))
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
    fn quoted(&self, _: usize) -> bool {
        false
    }
    fn any_quoted(&self, _: usize) -> bool {
        false
    }
    fn unquoted(&self, _: usize) -> bool {
        false
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
    scores: Vec<ScoreTable>,
    light_stems: std::collections::HashMap<Box<str>, Vec<u32>>,
}

impl Builder {
    /// Adds every term of `rule` (the `rule_no`th compiled, `index` in the
    /// set) to the strategies, each with its [`TermInfo`] in `terms`.
    fn add_rule(
        &mut self,
        rule: &Rule,
        index: usize,
        rule_no: u32,
        field_names: &[String],
        terms: &mut Vec<TermInfo>,
    ) -> Result<CompiledRule, BuildError> {
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
        rule.condition.terms(&mut in_condition);
        let first_term = terms.len() as u32;
        for (local, term) in rule.terms.iter().enumerate() {
            let global = terms.len() as u32;
            terms.push(TermInfo {
                rule: rule_no,
                min_count: term.min_count,
                written: term.written,
                fields: mask,
                evidence: in_condition.contains(&local),
                score: match &term.kind {
                    TermKind::Weights(w) => {
                        let (stems, words): (Vec<_>, Vec<_>) = w
                            .entries
                            .iter()
                            .zip(&w.weights)
                            .partition(|(e, _)| e.starts_with('~'));
                        for (e, _) in &stems {
                            self.light_stems
                                .entry(e[1..].into())
                                .or_default()
                                .push(global);
                        }
                        self.scores.push(ScoreTable {
                            weights: words
                                .into_iter()
                                .map(|(e, &wt)| (normalize::fold(e).into_boxed_str(), wt))
                                .collect(),
                            stems: stems
                                .into_iter()
                                .map(|(e, &wt)| (e[1..].into(), wt))
                                .collect(),
                            at_least: w.at_least,
                        });
                        self.scores.len() as u32 - 1
                    }
                    _ => u32::MAX,
                },
            });
            self.add_term(rule, local, global, mask)?;
        }
        let grade_terms = rule
            .escalate
            .iter()
            .map(|g| {
                let mut v = Vec::new();
                g.when.terms(&mut v);
                v.into_iter().map(|t| t as u32).collect()
            })
            .collect();
        Ok(CompiledRule {
            index,
            first_term,
            term_count: rule.terms.len() as u32,
            shadow: rule.status == Status::Shadow,
            grade_terms,
            fallback: rule.fallback,
        })
    }

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
                written: term.written,
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
            TermKind::Weights(w) => &w.entries,
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
        let weights = matches!(&term.kind, TermKind::Weights(_));
        if weights {
            self.folded_fields |= mask;
        }
        // A weights term's `~` entries are light stems, looked up per word
        // (see `light_stems`), not literals.
        for lit in literals.iter().filter(|l| !(weights && l.starts_with('~'))) {
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
