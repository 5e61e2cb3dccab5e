//! Lexicon files: one language's concepts, and the `lexicon:` terms that name them.

use std::path::{Path, PathBuf};

use super::term::{check_literal, check_regex};
use super::{suggest, Ctx};
use crate::rules::condition;
use crate::rules::yaml::{Mark, Node, Value};
use crate::rules::{Level, LexiconPart, LexiconTerm, Problem, TermKind, View};

/// One concept of one lexicon file.
#[derive(Clone, Debug)]
pub(super) struct Concept {
    language: String,
    file: PathBuf,
    mark: Mark,
    words: Vec<String>,
    substrings: Vec<String>,
    /// Each pattern with where it is written.
    regex: Vec<(String, Mark)>,
    list: Vec<String>,
    /// Some term takes this concept (after its `languages:` filter).
    used: bool,
}

const LEXICON_KEYS: &[&str] = &["language", "concepts"];
const CONCEPT_KEYS: &[&str] = &["words", "substrings", "regex", "list"];

impl Ctx {
    /// A warning for each concept of a language that no term takes.
    pub(super) fn warn_unused_concepts(&mut self) {
        for (name, entries) in &self.concepts {
            for c in entries.iter().filter(|c| !c.used) {
                self.problems.push(Problem {
                    level: Level::Warning,
                    file: c.file.clone(),
                    mark: c.mark,
                    rule: None,
                    message: format!(
                        "lexicon concept '{name}' ({}) is not used by any rule",
                        c.language
                    ),
                });
            }
        }
    }

    /// A file with `lexicon:`: one language's concepts.
    pub(super) fn lexicon_file(&mut self, file: &Path, root: &Node) {
        let Value::Map(entries) = &root.value else {
            return;
        };
        for (k, v) in entries {
            match k.as_scalar() {
                Some("lexicon") => self.lexicon(file, v),
                other => self.error(
                    file,
                    k.mark,
                    None,
                    format!(
                        "unknown key '{}' at the top of a lexicon file (a file holds either                          'rules:' or 'lexicon:')",
                        other.unwrap_or("?")
                    ),
                ),
            }
        }
    }

    /// The `lexicon:` mapping: its language, then its concepts.
    fn lexicon(&mut self, file: &Path, node: &Node) {
        let Value::Map(entries) = &node.value else {
            self.error(
                file,
                node.mark,
                None,
                format!(
                    "'lexicon' is a mapping with 'language' and 'concepts', found {}",
                    node.kind_name()
                ),
            );
            return;
        };
        let mut language = None;
        let mut concepts = None;
        for (k, v) in entries {
            match k.as_scalar() {
                Some("language") => match v.as_scalar() {
                    Some(l) if valid_language(l) => language = Some(l.to_string()),
                    _ => self.error(
                        file,
                        v.mark,
                        None,
                        "lexicon: 'language' is a language code such as en, ar, pt-br".into(),
                    ),
                },
                Some("concepts") => concepts = Some(v),
                other => {
                    let other = other.unwrap_or("?");
                    let hint = suggest(other, LEXICON_KEYS);
                    self.error(
                        file,
                        k.mark,
                        None,
                        format!("lexicon: unknown key '{other}'{hint}"),
                    );
                }
            }
        }
        let Some(language) = language else {
            if !entries
                .iter()
                .any(|(k, _)| k.as_scalar() == Some("language"))
            {
                self.error(
                    file,
                    node.mark,
                    None,
                    "lexicon: 'language' is missing".into(),
                );
            }
            return;
        };
        let Some(concepts) = concepts else {
            self.error(
                file,
                node.mark,
                None,
                "lexicon: 'concepts' is missing".into(),
            );
            return;
        };
        self.concepts(file, &language, concepts);
    }

    /// `concepts:` of a lexicon: each name once per language.
    fn concepts(&mut self, file: &Path, language: &str, concepts: &Node) {
        let Value::Map(defs) = &concepts.value else {
            self.error(
                file,
                concepts.mark,
                None,
                "lexicon: 'concepts' is a mapping of concept names to entries".into(),
            );
            return;
        };
        for (k, v) in defs {
            let Some(name) = k.as_scalar().filter(|n| valid_concept(n)) else {
                self.error(
                    file,
                    k.mark,
                    None,
                    "a concept name may hold only letters, digits, '_', '-' and '.'".into(),
                );
                continue;
            };
            if let Some(first) = self
                .concepts
                .get(name)
                .and_then(|cs| cs.iter().find(|c| c.language == language))
            {
                let msg = format!(
                    "concept '{name}' is already defined for language '{language}' at {}:{}:{}",
                    first.file.display(),
                    first.mark.line,
                    first.mark.col
                );
                self.error(file, k.mark, None, msg);
                continue;
            }
            if let Some(c) = self.concept(file, name, language, k.mark, v) {
                self.concepts.entry(name.to_string()).or_default().push(c);
            }
        }
    }

    /// One concept; `None` when it has an error (reported) or no entries.
    fn concept(
        &mut self,
        file: &Path,
        name: &str,
        language: &str,
        mark: Mark,
        node: &Node,
    ) -> Option<Concept> {
        let errors_before = self.error_count();
        let Value::Map(entries) = &node.value else {
            self.error(
                file,
                node.mark,
                None,
                format!("concept '{name}' is a mapping with words, substrings, regex or list"),
            );
            return None;
        };
        let mut c = Concept {
            language: language.to_string(),
            file: file.to_path_buf(),
            mark,
            words: Vec::new(),
            substrings: Vec::new(),
            regex: Vec::new(),
            list: Vec::new(),
            used: false,
        };
        let what = format!("concept '{name}'");
        for (key, k, v) in self.unique_keys(entries, file, None, &what) {
            match key {
                "words" | "substrings" | "regex" => {
                    self.concept_patterns(file, name, key, (k, v), &mut c)
                }
                "list" => {
                    if let Some((_, list)) = self.list_file(file, None, &what, v, View::Folded) {
                        c.list = list;
                    }
                }
                other => {
                    let hint = suggest(other, CONCEPT_KEYS);
                    self.error(
                        file,
                        k.mark,
                        None,
                        format!("concept '{name}': unknown key '{other}'{hint}"),
                    );
                }
            }
        }
        if self.error_count() > errors_before {
            return None;
        }
        if c.words.is_empty() && c.substrings.is_empty() && c.regex.is_empty() && c.list.is_empty()
        {
            self.error(
                file,
                mark,
                None,
                format!("concept '{name}' has no entries (words, substrings, regex or list)"),
            );
            return None;
        }
        Some(c)
    }

    /// A concept's `words`, `substrings` or `regex`, each entry checked
    /// for the folded view.
    fn concept_patterns(
        &mut self,
        file: &Path,
        name: &str,
        key: &str,
        kv: (&Node, &Node),
        c: &mut Concept,
    ) {
        for (e, m) in self.placed_string_list(file, None, Some(&kv)) {
            let checked = if key == "regex" {
                check_regex(&e, View::Folded, &self.limits)
            } else {
                check_literal(&e, View::Folded, &self.limits)
                    .map_err(|msg| format!("entry '{e}' {msg}"))
            };
            match checked {
                Err(msg) => self.error(file, m, None, format!("concept '{name}': {msg}")),
                Ok(()) if key == "words" => c.words.push(e),
                Ok(()) if key == "substrings" => c.substrings.push(e),
                Ok(()) => c.regex.push((e, m)),
            }
        }
    }

    /// A `lexicon:` term: the concepts it names, narrowed to `languages`.
    pub(super) fn lexicon_term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        concepts: &Node,
        languages: Option<&Node>,
        view: View,
    ) -> Option<TermKind> {
        let errors_before = self.error_count();
        let named = self.placed_string_list(file, rid, Some(&(concepts, concepts)));
        if named.is_empty() {
            self.error(
                file,
                concepts.mark,
                rid,
                format!("term '{name}': 'lexicon' names no concept"),
            );
        }
        let langs = self.term_languages(file, rid, name, languages);
        let mut parts = Vec::new();
        for (concept, m) in &named {
            let term = LexiconUse {
                file,
                rid,
                name,
                langs: &langs,
                view,
            };
            self.concept_parts(&term, concept, *m, &mut parts);
        }
        if self.error_count() > errors_before {
            return None;
        }
        Some(TermKind::Lexicon(LexiconTerm {
            concepts: named.into_iter().map(|(c, _)| c).collect(),
            languages: langs.into_iter().map(|(l, _)| l).collect(),
            parts,
        }))
    }

    /// A lexicon term's `languages`: each one some lexicon has.
    fn term_languages(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        languages: Option<&Node>,
    ) -> Vec<(String, Mark)> {
        let langs: Vec<(String, Mark)> = match languages {
            None => Vec::new(),
            Some(l) => {
                let langs = self.placed_string_list(file, rid, Some(&(l, l)));
                if langs.is_empty() {
                    self.error(
                        file,
                        l.mark,
                        rid,
                        format!("term '{name}': 'languages' is empty"),
                    );
                }
                langs
            }
        };
        for (l, m) in &langs {
            if !self.concepts.values().flatten().any(|c| &c.language == l) {
                self.error(
                    file,
                    *m,
                    rid,
                    format!("term '{name}': no lexicon has language '{l}'"),
                );
            }
        }
        langs
    }

    /// The parts of one concept a lexicon term names (one per language it
    /// takes), each marked used; its regexes are checked again for a raw
    /// view.
    fn concept_parts(
        &mut self,
        term: &LexiconUse,
        concept: &str,
        m: Mark,
        parts: &mut Vec<LexiconPart>,
    ) {
        let LexiconUse {
            file,
            rid,
            name,
            langs,
            view,
        } = *term;
        let Some(defs) = self.concepts.get_mut(concept) else {
            let known: Vec<&str> = self.concepts.keys().map(String::as_str).collect();
            let hint = suggest(concept, &known);
            self.error(
                file,
                m,
                rid,
                format!("term '{name}': unknown lexicon concept '{concept}'{hint}"),
            );
            return;
        };
        let mut taken = 0;
        let mut regex_problems = Vec::new();
        for c in defs.iter_mut() {
            if !langs.is_empty() && !langs.iter().any(|(l, _)| *l == c.language) {
                continue;
            }
            c.used = true;
            taken += 1;
            if view == View::Raw {
                for (p, pm) in &c.regex {
                    if let Err(msg) = check_regex(p, View::Raw, &self.limits) {
                        regex_problems.push((c.file.clone(), *pm, msg));
                    }
                }
            }
            parts.push(LexiconPart {
                concept: concept.to_string(),
                language: c.language.clone(),
                file: c.file.clone(),
                words: c.words.clone(),
                substrings: c.substrings.clone(),
                regex: c.regex.iter().map(|(p, _)| p.clone()).collect(),
                list: c.list.clone(),
            });
        }
        for (f, pm, msg) in regex_problems {
            self.error(
                &f,
                pm,
                rid,
                format!("term '{name}' (concept '{concept}'): {msg}"),
            );
        }
        if taken == 0 {
            let list: Vec<&str> = langs.iter().map(|(l, _)| l.as_str()).collect();
            self.error(
                file,
                m,
                rid,
                format!(
                    "term '{name}': concept '{concept}' has no entries in {}",
                    list.join(", ")
                ),
            );
        }
    }
}

/// The lexicon term being read: where it is, its name, the languages it
/// narrows to and its view.
#[derive(Clone, Copy)]
struct LexiconUse<'a> {
    file: &'a Path,
    rid: Option<&'a str>,
    name: &'a str,
    langs: &'a [(String, Mark)],
    view: View,
}

fn valid_language(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 16
        && l.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_concept(n: &str) -> bool {
    !n.is_empty() && n.chars().all(condition::is_name_char)
}
