//! One term of a rule: its kind, patterns, view and options.

use std::path::Path;

use super::{plain, suggest, Ctx, RuleLimits};
use crate::indicators::IndicatorKind;
use crate::normalize;
use crate::rules::yaml::{Mark, Node, Value};
use crate::rules::{parse_milli, Term, TermKind, View, WeightsTerm, Written};

impl Ctx {
    /// One term of a rule; `None` when it has an error (reported).
    pub(super) fn term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        mark: Mark,
        node: &Node,
    ) -> Option<Term> {
        let Value::Map(entries) = &node.value else {
            self.error(file, node.mark, rid, format!("term '{name}' must be a mapping with one of words, substrings, regex, list, indicator, lexicon, weights"));
            return None;
        };
        let errors_before = self.error_count();
        let keys = self.term_keys(file, rid, name, entries);
        let Some((kind_key, kv)) = keys.kind else {
            self.error(
                file,
                mark,
                rid,
                format!(
                    "term '{name}' needs one of words, substrings, regex, list, indicator, lexicon, weights"
                ),
            );
            return None;
        };
        if let (Some(l), false) = (keys.languages, kind_key == "lexicon") {
            self.error(
                file,
                l.mark,
                rid,
                format!("term '{name}': 'languages' narrows a 'lexicon' term; this term has '{kind_key}'"),
            );
        }
        let default_view = if kind_key == "indicator" {
            View::Raw
        } else {
            View::Folded
        };
        let view_mark = keys.view.map(|(_, m)| m);
        let mut view = keys.view.map(|(v, _)| v).unwrap_or(default_view);
        let kind = match kind_key {
            "words" => TermKind::Words(self.pattern_list(file, rid, name, kind_key, kv, view)),
            "substrings" => {
                TermKind::Substrings(self.pattern_list(file, rid, name, kind_key, kv, view))
            }
            "regex" => self.regex_term(file, rid, name, kv, view),
            "lexicon" => self.lexicon_term(file, rid, name, kv, keys.languages, view)?,
            "list" => self.list_term(file, rid, name, kv, view)?,
            "weights" => {
                if view == View::Raw {
                    self.error(
                        file,
                        view_mark.unwrap_or(kv.mark),
                        rid,
                        format!("term '{name}': a weights term scores whole words of the folded view; 'view: raw' does not apply"),
                    );
                }
                self.weights_term(file, rid, name, kv, keys.at_least)?
            }
            _ => {
                let kind = self.indicator_term(file, rid, name, kv);
                if view == View::Folded {
                    // Checksums and link grammars hold only on what was
                    // posted: folding would break every address.
                    self.warn(
                        file,
                        view_mark.unwrap_or(kv.mark),
                        rid,
                        format!(
                            "term '{name}': indicators validate what was posted and run on the \
                             raw view; 'view: folded' is ignored"
                        ),
                    );
                    view = View::Raw;
                }
                kind
            }
        };
        if let (Some(a), false) = (keys.at_least, kind_key == "weights") {
            self.error(
                file,
                a.mark,
                rid,
                format!("term '{name}': 'at_least' is the score a 'weights' term needs; this term has '{kind_key}'"),
            );
        }
        let whole_word = self.whole_word(file, rid, name, &kind, keys.whole_word);
        let written = self.written(file, rid, name, &kind, kv, keys.written);
        if self.error_count() > errors_before {
            return None;
        }
        Some(Term {
            name: name.to_string(),
            kind,
            view,
            min_count: keys.min_count,
            whole_word,
            written,
            mark,
        })
    }

    /// The keys of a term's mapping: its kind (one of [`TERM_KINDS`]) and
    /// its options, each checked.
    fn term_keys<'a>(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        entries: &'a [(Node, Node)],
    ) -> TermKeys<'a> {
        let mut keys = TermKeys {
            kind: None,
            view: None,
            min_count: 1,
            whole_word: None,
            written: None,
            languages: None,
            at_least: None,
        };
        for (key, k, v) in self.unique_keys(entries, file, rid, &format!("term '{name}'")) {
            match key {
                "words" | "substrings" | "regex" | "list" | "indicator" | "lexicon" | "weights" => {
                    if let Some((other, _)) = keys.kind {
                        self.error(file, k.mark, rid, format!("term '{name}' has both '{other}' and '{key}'; give each its own term"));
                    } else {
                        let kind = TERM_KINDS.iter().find(|s| **s == key).copied();
                        keys.kind = Some((kind.unwrap_or("words"), v));
                    }
                }
                "languages" => keys.languages = Some(v),
                "at_least" => keys.at_least = Some(v),
                "view" | "min_count" | "whole_word" | "written" => {
                    self.term_option(file, rid, name, key, v, &mut keys)
                }
                other => {
                    let hint = suggest(other, TERM_KEYS);
                    self.error(
                        file,
                        k.mark,
                        rid,
                        format!("term '{name}': unknown key '{other}'{hint}"),
                    );
                }
            }
        }
        keys
    }

    /// `view`, `min_count`, `whole_word` or `written` of a term, checked
    /// into `keys`.
    fn term_option(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        key: &str,
        v: &Node,
        keys: &mut TermKeys,
    ) {
        match key {
            "view" => match v.as_scalar() {
                Some("raw") => keys.view = Some((View::Raw, v.mark)),
                Some("folded") => keys.view = Some((View::Folded, v.mark)),
                _ => self.error(
                    file,
                    v.mark,
                    rid,
                    format!("term '{name}': 'view' is raw | folded"),
                ),
            },
            "min_count" => match v.as_scalar().and_then(|s| s.parse::<u32>().ok()) {
                Some(n) if n >= 1 && plain(v) => keys.min_count = n,
                _ => self.error(
                    file,
                    v.mark,
                    rid,
                    format!("term '{name}': 'min_count' must be a whole number of at least 1"),
                ),
            },
            "written" => match v.as_scalar() {
                Some("any") if plain(v) => keys.written = Some((Written::Any, v.mark)),
                Some("split") if plain(v) => keys.written = Some((Written::Split, v.mark)),
                Some("whole") if plain(v) => keys.written = Some((Written::Whole, v.mark)),
                _ => self.error(
                    file,
                    v.mark,
                    rid,
                    format!("term '{name}': 'written' is split | whole | any"),
                ),
            },
            _ => match v.as_scalar() {
                Some("true") if plain(v) => keys.whole_word = Some((true, v.mark)),
                Some("false") if plain(v) => keys.whole_word = Some((false, v.mark)),
                _ => self.error(
                    file,
                    v.mark,
                    rid,
                    format!("term '{name}': 'whole_word' is true | false"),
                ),
            },
        }
    }

    /// A `regex:` term: each pattern checked at its own place (in a list,
    /// its element).
    fn regex_term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kv: &Node,
        view: View,
    ) -> TermKind {
        let placed = self.placed_string_list(file, rid, Some(&(kv, kv)));
        if placed.is_empty() {
            self.error(
                file,
                kv.mark,
                rid,
                format!("term '{name}': 'regex' is empty"),
            );
        }
        for (p, mark) in &placed {
            if let Err(msg) = check_regex(p, view, &self.limits) {
                self.error(file, *mark, rid, format!("term '{name}': {msg}"));
            }
        }
        TermKind::Regex(placed.into_iter().map(|(p, _)| p).collect())
    }

    /// A `list:` term: the entries of the list file it names; `None` when
    /// the file cannot be read (reported).
    fn list_term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kv: &Node,
        view: View,
    ) -> Option<TermKind> {
        let what = format!("term '{name}'");
        let (path, entries) = self.list_file(file, rid, &what, kv, view)?;
        if entries.is_empty() {
            self.error(
                file,
                kv.mark,
                rid,
                format!("term '{name}': list {} has no entries", path.display()),
            );
        }
        Some(TermKind::List { path, entries })
    }

    /// A `weights:` term: the weights file it names and its `at_least`.
    fn weights_term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kv: &Node,
        at_least: Option<&Node>,
    ) -> Option<TermKind> {
        let what = format!("term '{name}'");
        let threshold = match at_least {
            None => {
                self.error(
                    file,
                    kv.mark,
                    rid,
                    format!("term '{name}': a 'weights' term needs 'at_least', the score at which it holds"),
                );
                None
            }
            Some(n) => match n.as_scalar().filter(|_| plain(n)).and_then(parse_milli) {
                Some(t) if t > 0 => Some(t),
                _ => {
                    self.error(
                        file,
                        n.mark,
                        rid,
                        format!("term '{name}': 'at_least' must be a decimal above 0 with at most three places (a score of 0 would hold on a post with nothing found)"),
                    );
                    None
                }
            },
        };
        let (path, text) = self.read_listed(file, rid, &what, kv, "weights")?;
        let (entries, weights) = self.weights_entries(&path, rid, &what, &text);
        if entries.is_empty() {
            self.error(
                file,
                kv.mark,
                rid,
                format!("term '{name}': weights {} has no entries", path.display()),
            );
        }
        Some(TermKind::Weights(WeightsTerm {
            path,
            entries,
            weights,
            at_least: threshold?,
        }))
    }

    /// An `indicator:` term: the indicators it names.
    fn indicator_term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kv: &Node,
    ) -> TermKind {
        let names = self.string_list(file, rid, Some(&(kv, kv)));
        let mut kinds = Vec::new();
        for n in &names {
            match IndicatorKind::from_name(n) {
                Some(k) => kinds.push(k),
                None => {
                    let all: Vec<&str> = IndicatorKind::ALL.iter().map(|k| k.name()).collect();
                    self.error(
                        file,
                        kv.mark,
                        rid,
                        format!(
                            "term '{name}': unknown indicator '{n}' (known: {})",
                            all.join(", ")
                        ),
                    );
                }
            }
        }
        if names.is_empty() {
            self.error(
                file,
                kv.mark,
                rid,
                format!("term '{name}': 'indicator' is empty"),
            );
        }
        TermKind::Indicator(kinds)
    }

    /// `whole_word`, written or by kind: words and lists are whole words
    /// unless they say otherwise; lexicon, regex and indicator terms cannot
    /// say it.
    fn whole_word(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kind: &TermKind,
        written: Option<(bool, Mark)>,
    ) -> bool {
        match (kind, written) {
            (TermKind::Lexicon(_), Some((_, m))) => {
                self.error(file, m, rid, format!("term '{name}': 'whole_word' does not apply to a lexicon term: its concepts' words and lists are whole words, their substrings are not"));
                false
            }
            (TermKind::Weights(_), Some((_, m))) => {
                self.error(file, m, rid, format!("term '{name}': 'whole_word' does not apply to a weights term: its entries are whole words"));
                true
            }
            (TermKind::Regex(_) | TermKind::Indicator(_), Some((_, m))) => {
                self.error(file, m, rid, format!("term '{name}': 'whole_word' applies to words, substrings and lists; a regex says its own boundaries with \\b"));
                false
            }
            (_, Some((w, _))) => w,
            (TermKind::Words(_) | TermKind::List { .. } | TermKind::Weights(_), None) => true,
            _ => false,
        }
    }

    /// `written`: only on indicator terms, and `split` or `whole` only when
    /// every kind named can be written in pieces (an IBAN or a link never
    /// is, so the key would silently drop or keep all of them).
    fn written(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        kind: &TermKind,
        kv: &Node,
        written: Option<(Written, Mark)>,
    ) -> Written {
        let Some((w, m)) = written else {
            return Written::Any;
        };
        let TermKind::Indicator(kinds) = kind else {
            self.error(
                file,
                m,
                rid,
                format!(
                    "term '{name}': 'written' applies to indicator terms only; this term has '{}'",
                    kind.key()
                ),
            );
            return Written::Any;
        };
        if w == Written::Any {
            return w;
        }
        // Each kind at its own place (the list's other mistakes are
        // reported by `indicator_term`).
        let items: Vec<&Node> = match &kv.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![kv],
        };
        let mut bad = false;
        for item in items {
            let never = item
                .as_scalar()
                .and_then(IndicatorKind::from_name)
                .filter(|k| !k.can_be_split());
            if let Some(k) = never {
                let place = item.mark;
                bad = true;
                self.error(
                    file,
                    place,
                    rid,
                    format!(
                        "term '{name}': 'written: {}' needs kinds that can be written in pieces \
                         (btc, ltc, eth, trx, xmr); '{k}' never is: give it its own term",
                        w.as_str()
                    ),
                );
            }
        }
        if bad || kinds.is_empty() {
            return Written::Any;
        }
        w
    }

    fn pattern_list(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        key: &str,
        node: &Node,
        view: View,
    ) -> Vec<String> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar(..) if !node.is_null() => vec![node],
            _ => {
                self.error(
                    file,
                    node.mark,
                    rid,
                    format!("term '{name}': '{key}' must be a list of strings"),
                );
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error(
                file,
                node.mark,
                rid,
                format!("term '{name}': '{key}' is empty"),
            );
        }
        let mut out = Vec::new();
        for item in items {
            match item.as_scalar() {
                Some(s) if !item.is_null() => {
                    if let Err(msg) = check_literal(s, view, &self.limits) {
                        self.error(
                            file,
                            item.mark,
                            rid,
                            format!("term '{name}': entry '{s}' {msg}"),
                        );
                    } else {
                        out.push(s.to_string());
                    }
                }
                _ => self.error(
                    file,
                    item.mark,
                    rid,
                    format!(
                        "term '{name}': '{key}' entries must be strings, found {}",
                        item.kind_name()
                    ),
                ),
            }
        }
        out
    }
}

/// What the keys of a term's mapping say, each with its place where a
/// later check needs it.
struct TermKeys<'a> {
    /// The kind's key and its value.
    kind: Option<(&'static str, &'a Node)>,
    view: Option<(View, Mark)>,
    min_count: u32,
    whole_word: Option<(bool, Mark)>,
    written: Option<(Written, Mark)>,
    languages: Option<&'a Node>,
    at_least: Option<&'a Node>,
}

const TERM_KINDS: &[&str] = &[
    "words",
    "substrings",
    "regex",
    "list",
    "indicator",
    "lexicon",
    "weights",
];
const TERM_KEYS: &[&str] = &[
    "words",
    "substrings",
    "regex",
    "list",
    "indicator",
    "lexicon",
    "weights",
    "at_least",
    "languages",
    "view",
    "min_count",
    "whole_word",
    "written",
];

/// A literal pattern must still say something once folded.
pub(super) fn check_literal(s: &str, view: View, limits: &RuleLimits) -> Result<(), String> {
    if s.len() > limits.max_pattern_bytes {
        return Err(format!(
            "is {} bytes long, over rules.limits.max_pattern_bytes ({})",
            s.len(),
            limits.max_pattern_bytes
        ));
    }
    match view {
        View::Folded if normalize::fold(s).is_empty() => {
            Err("folds to nothing (only spaces, punctuation or invisible characters)".into())
        }
        View::Raw if s.trim().is_empty() => Err("is empty".into()),
        _ => Ok(()),
    }
}

/// Compiles a regex term the way the engine will, so errors show at load.
pub(crate) fn check_regex(pattern: &str, view: View, limits: &RuleLimits) -> Result<(), String> {
    if pattern.len() > limits.max_pattern_bytes {
        return Err(format!(
            "a regex of {} bytes is over rules.limits.max_pattern_bytes ({})",
            pattern.len(),
            limits.max_pattern_bytes
        ));
    }
    let pat = match view {
        View::Folded => normalize::fold_regex(pattern)
            .map_err(|e| format!("regex '{pattern}': {}", e.kind()))?,
        View::Raw => pattern.to_string(),
    };
    let re = regex::RegexBuilder::new(&pat)
        .size_limit(limits.regex_size_limit)
        .dfa_size_limit(limits.regex_dfa_size_limit)
        .build()
        .map_err(|e| format!("regex '{pattern}': {}", regex_message(&e)))?;
    if re.is_match("") {
        return Err(format!(
            "regex '{pattern}' matches the empty string, so it would match every post"
        ));
    }
    Ok(())
}

/// The regex crate's message on one line: its syntax errors draw a caret
/// under the pattern over several lines, which the rule's own place replaces.
pub(crate) fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.trim_start().strip_prefix("error: "))
            .unwrap_or(s)
            .to_string(),
        other => other.to_string(),
    }
}
