//! Reading rule files: YAML nodes to checked [`Rule`]s, with every problem placed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::yaml::{self, Mark, Node, ScalarStyle, Value};
use super::{Level, LoadError, Loaded, Problem, Rule, RuleSet};

mod conditions;
mod lexicon;
mod list;
mod rule;
mod rule_tests;
mod term;

use lexicon::Concept;
pub(crate) use term::regex_message;

/// Largest compiled size of one regex term, so a rule cannot blow up memory.
pub const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// Largest lazy DFA cache of one regex term (the regex crate's `dfa_size_limit`).
pub const REGEX_DFA_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// How large a rule set may be: `[rules.limits]` in the configuration.
/// Going over one is a load error placed at the rule, term, pattern or list
/// line that goes over, so a rule file written in a hurry cannot exhaust the
/// memory of the process that loads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleLimits {
    /// Rules in the whole set.
    pub max_rules: usize,
    /// Terms of one rule.
    pub max_terms_per_rule: usize,
    /// Entries of one list file.
    pub max_list_entries: usize,
    /// Bytes of one word, substring, list entry or regex pattern.
    pub max_pattern_bytes: usize,
    /// Compiled size of one regex (the regex crate's `size_limit`).
    pub regex_size_limit: usize,
    /// Lazy DFA cache of one regex (the regex crate's `dfa_size_limit`).
    pub regex_dfa_size_limit: usize,
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits {
            max_rules: 10_000,
            max_terms_per_rule: 256,
            max_list_entries: 1_000_000,
            max_pattern_bytes: 4096,
            regex_size_limit: REGEX_SIZE_LIMIT,
            regex_dfa_size_limit: REGEX_DFA_SIZE_LIMIT,
        }
    }
}

impl RuleLimits {
    /// Checks the values; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        for (key, v) in [
            ("max_rules", self.max_rules),
            ("max_terms_per_rule", self.max_terms_per_rule),
            ("max_list_entries", self.max_list_entries),
            ("max_pattern_bytes", self.max_pattern_bytes),
            ("regex_size_limit", self.regex_size_limit),
            ("regex_dfa_size_limit", self.regex_dfa_size_limit),
        ] {
            if v == 0 {
                return Err(format!("rules.limits.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Loads every `*.yaml`/`*.yml` file below `path` (or the one file `path` names).
pub fn load_dir(path: &Path) -> Result<Loaded, LoadError> {
    load_dir_with(path, &RuleLimits::default())
}

/// [`load_dir`] with the given limits.
pub fn load_dir_with(path: &Path, limits: &RuleLimits) -> Result<Loaded, LoadError> {
    let mut ctx = Ctx {
        limits: *limits,
        ..Ctx::default()
    };
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else if path.is_dir() {
        collect_yaml(path, &mut files, &mut ctx);
        files.sort();
    } else {
        ctx.error(
            path,
            Mark::default(),
            None,
            "no such file or directory".to_string(),
        );
    }
    let base = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let mut sources = Vec::new();
    for file in &files {
        match std::fs::read(file) {
            Ok(bytes) => {
                ctx.hash_file(&base, file, &bytes);
                match String::from_utf8(bytes) {
                    Ok(src) => sources.push((file.clone(), src)),
                    Err(e) => ctx.error(
                        file,
                        Mark::default(),
                        None,
                        format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                    ),
                }
            }
            Err(e) => ctx.error(file, Mark::default(), None, format!("cannot read: {e}")),
        }
    }
    ctx.load_files(&sources);
    if files.is_empty() && ctx.problems.is_empty() {
        ctx.error(
            path,
            Mark::default(),
            None,
            "no rule files (*.yaml, *.yml) found".to_string(),
        );
    }
    ctx.finish(base)
}

/// Loads rules from one YAML text, as if it were the file `name` (list paths
/// resolve against `name`'s directory). Used by tests and tools.
pub fn load_str(name: &Path, src: &str) -> Result<Loaded, LoadError> {
    load_str_with(name, src, &RuleLimits::default())
}

/// [`load_str`] with the given limits.
pub fn load_str_with(name: &Path, src: &str, limits: &RuleLimits) -> Result<Loaded, LoadError> {
    let mut ctx = Ctx {
        limits: *limits,
        ..Ctx::default()
    };
    let base = name.parent().map(Path::to_path_buf).unwrap_or_default();
    ctx.hash_file(&base, name, src.as_bytes());
    ctx.load_files(&[(name.to_path_buf(), src.to_string())]);
    ctx.finish(base)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, ctx: &mut Ctx) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            ctx.error(
                dir,
                Mark::default(),
                None,
                format!("cannot read directory: {e}"),
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_yaml(&path, out, ctx);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        ) {
            out.push(path);
        }
    }
}

#[derive(Default)]
struct Ctx {
    rules: Vec<Rule>,
    problems: Vec<Problem>,
    ids: HashMap<String, (PathBuf, Mark)>,
    /// Relative path -> content digest, for the set's hash.
    digests: BTreeMap<String, [u8; 32]>,
    files: Vec<PathBuf>,
    /// Lexicon concepts by name, one entry per language.
    concepts: BTreeMap<String, Vec<Concept>>,
    limits: RuleLimits,
}

impl Ctx {
    fn error(&mut self, file: &Path, mark: Mark, rule: Option<&str>, message: String) {
        self.problems.push(Problem {
            level: Level::Error,
            file: file.to_path_buf(),
            mark,
            rule: rule.map(str::to_string),
            message,
        });
    }

    fn warn(&mut self, file: &Path, mark: Mark, rule: Option<&str>, message: String) {
        self.problems.push(Problem {
            level: Level::Warning,
            file: file.to_path_buf(),
            mark,
            rule: rule.map(str::to_string),
            message,
        });
    }

    /// The entries of a YAML mapping, each key at its first use only: a key
    /// given again is an error placed at that second use (`{what}: key 'K'
    /// appears twice`, `what` naming the mapping, e.g. `term 'x'`) and is
    /// left out. A key that is not a plain scalar reads as "".
    fn unique_keys<'a>(
        &mut self,
        entries: &'a [(Node, Node)],
        file: &Path,
        rid: Option<&str>,
        what: &str,
    ) -> Vec<(&'a str, &'a Node, &'a Node)> {
        let mut seen = HashSet::new();
        let mut unique = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = k.as_scalar().unwrap_or("");
            if seen.insert(key) {
                unique.push((key, k, v));
            } else {
                self.error(
                    file,
                    k.mark,
                    rid,
                    format!("{what}: key '{key}' appears twice"),
                );
            }
        }
        unique
    }

    fn hash_file(&mut self, base: &Path, file: &Path, bytes: &[u8]) {
        let rel = file.strip_prefix(base).unwrap_or(file);
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.digests.insert(rel, Sha256::digest(bytes).into());
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_path_buf());
        }
    }

    fn finish(mut self, _base: PathBuf) -> Result<Loaded, LoadError> {
        if self.problems.iter().any(|p| p.level == Level::Error) {
            return Err(LoadError {
                problems: self.problems,
            });
        }
        let mut h = Sha256::new();
        for (rel, digest) in &self.digests {
            h.update((rel.len() as u64).to_le_bytes());
            h.update(rel.as_bytes());
            h.update(digest);
        }
        let hash = format!("sha256:{}", hex_digest(&h.finalize()));
        self.files.sort();
        let warnings = std::mem::take(&mut self.problems);
        Ok(Loaded {
            set: RuleSet {
                rules: self.rules,
                hash,
                files: self.files,
            },
            warnings,
        })
    }

    /// Lexicon files first, so that rules in any file can name their concepts.
    fn load_files(&mut self, sources: &[(PathBuf, String)]) {
        let mut rule_docs = Vec::new();
        for (file, src) in sources {
            if let Some(root) = self.parse_file(file, src) {
                let is_lexicon = matches!(&root.value, Value::Map(entries)
                    if entries.iter().any(|(k, _)| k.as_scalar() == Some("lexicon")));
                if is_lexicon {
                    self.lexicon_file(file, &root);
                } else {
                    rule_docs.push((file, root));
                }
            }
        }
        for (file, root) in rule_docs {
            self.load_file(file, &root);
        }
        self.warn_unused_concepts();
    }

    fn parse_file(&mut self, file: &Path, src: &str) -> Option<Node> {
        match yaml::parse(src) {
            Ok(Some(root)) => Some(root),
            Ok(None) => {
                self.warn(
                    file,
                    Mark { line: 1, col: 1 },
                    None,
                    "empty rule file".into(),
                );
                None
            }
            Err(e) => {
                self.error(file, e.mark, None, format!("YAML syntax: {}", e.message));
                None
            }
        }
    }

    fn error_count(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .count()
    }

    fn string(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        kv: Option<&(&Node, &Node)>,
    ) -> Option<String> {
        let (k, v) = kv?;
        match v.as_scalar() {
            Some(s) if !v.is_null() => Some(s.to_string()),
            _ => {
                let key = k.as_scalar().unwrap_or("value");
                self.error(
                    file,
                    v.mark,
                    rid,
                    format!("'{key}' must be a string, found {}", v.kind_name()),
                );
                None
            }
        }
    }

    fn string_list(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        kv: Option<&(&Node, &Node)>,
    ) -> Vec<String> {
        self.placed_string_list(file, rid, kv)
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    /// A string or a list of strings, each with where it is written.
    fn placed_string_list(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        kv: Option<&(&Node, &Node)>,
    ) -> Vec<(String, Mark)> {
        let Some((k, v)) = kv else { return Vec::new() };
        let key = k.as_scalar().unwrap_or("value");
        match &v.value {
            Value::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.as_scalar() {
                        Some(s) if !item.is_null() => out.push((s.to_string(), item.mark)),
                        _ => self.error(
                            file,
                            item.mark,
                            rid,
                            format!(
                                "'{key}' entries must be strings, found {}",
                                item.kind_name()
                            ),
                        ),
                    }
                }
                out
            }
            Value::Scalar(s, _) if !v.is_null() => vec![(s.clone(), v.mark)],
            _ => {
                self.error(
                    file,
                    v.mark,
                    rid,
                    format!("'{key}' must be a list of strings, found {}", v.kind_name()),
                );
                Vec::new()
            }
        }
    }

    fn enum_value<T>(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        kv: Option<&(&Node, &Node)>,
        key: &str,
        parse: fn(&str) -> Option<T>,
        allowed: impl Iterator<Item = &'static str>,
    ) -> Option<T> {
        let (_, v) = kv?;
        match v.as_scalar().and_then(parse) {
            Some(t) => Some(t),
            None => {
                let allowed: Vec<&str> = allowed.collect();
                self.error(
                    file,
                    v.mark,
                    rid,
                    format!(
                        "'{key}' is {}, not '{}'",
                        allowed.join(" | "),
                        v.as_scalar().unwrap_or(v.kind_name())
                    ),
                );
                None
            }
        }
    }
}

fn plain(v: &Node) -> bool {
    matches!(v.value, Value::Scalar(_, ScalarStyle::Plain))
}

fn suggest(word: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Lower-case hex of a digest.
pub fn hex_digest(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Level, TermKind, View, Written};

    fn problems(src: &str) -> Vec<(Level, usize, usize, String)> {
        let list = match load_str(Path::new("r.yaml"), src) {
            Ok(loaded) => loaded.warnings,
            Err(e) => e.problems,
        };
        list.into_iter()
            .map(|p| (p.level, p.mark.line, p.mark.col, p.message))
            .collect()
    }

    #[test]
    fn a_second_yaml_document_is_an_error_not_ignored() {
        let p = problems(
            "rules:\n  - id: a\n    terms: {a: {words: [x]}}\n---\nrules:\n  - id: b\n    bogus: 1\n",
        );
        let errors: Vec<_> = p.iter().filter(|p| p.0 == Level::Error).collect();
        assert_eq!(errors.len(), 1, "{p:?}");
        assert_eq!((errors[0].1, errors[0].2), (4, 1), "{p:?}");
        assert!(errors[0].3.contains("second YAML document"), "{p:?}");
        // One explicit document is fine.
        let p = problems("---\nrules:\n  - id: a\n    terms: {a: {words: [x]}}\n");
        assert!(p.iter().all(|p| p.0 != Level::Error), "{p:?}");
    }

    #[test]
    fn an_unquoted_hash_condition_is_reported_at_its_key_with_a_hint() {
        let p = problems(
            "rules:\n  - id: a\n    terms: {a: {words: [x]}}\n    condition: #a >= 2\n\n  - id: b\n    terms: {a: {words: [x]}}\n",
        );
        let e = p.iter().find(|p| p.0 == Level::Error).expect("an error");
        assert_eq!((e.1, e.2), (4, 5), "{p:?}");
        assert!(e.3.contains("quote it"), "{p:?}");
    }

    #[test]
    fn a_term_with_an_error_is_not_also_an_unknown_term_of_the_condition() {
        let p = problems(
            "rules:\n  - id: a\n    terms: {t: {regex: '(unclosed'}}\n    condition: t and u\n",
        );
        let errors: Vec<&str> = p
            .iter()
            .filter(|p| p.0 == Level::Error)
            .map(|p| p.3.as_str())
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("unclosed group"), "{errors:?}");
        assert!(errors[1].contains("unknown term 'u'"), "{errors:?}");
    }

    #[test]
    fn a_bad_regex_in_a_list_is_placed_at_its_element() {
        let p = problems("rules:\n  - id: a\n    terms: {t: {regex: ['ok', '(bad']}}\n");
        let e = p.iter().find(|p| p.0 == Level::Error).expect("an error");
        assert_eq!((e.1, e.2), (3, 31), "{p:?}");
    }

    #[test]
    fn list_comments_start_at_a_line_start_or_after_white_space() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("l.txt"),
            "# header\nalpha  # why it is listed\nc#\n\tbravo\t# tab\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("r.yaml"),
            "rules:\n  - id: a\n    terms: {t: {list: l.txt, view: raw}}\n",
        )
        .unwrap();
        let loaded = load_dir(dir.path()).expect("loads");
        match &loaded.set.rules[0].terms[0].kind {
            TermKind::List { entries, .. } => assert_eq!(entries, &["alpha", "c#", "bravo"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_indicator_asked_for_in_the_folded_view_runs_raw_with_a_warning() {
        let src = "rules:\n  - id: a\n    terms: {w: {indicator: [btc], view: folded}}\n";
        let loaded = load_str(Path::new("r.yaml"), src).expect("loads");
        assert_eq!(loaded.set.rules[0].terms[0].view, View::Raw);
        assert!(loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("'view: folded' is ignored")));
    }

    #[test]
    fn written_keeps_split_or_whole_addresses_and_defaults_to_any() {
        let src = concat!(
            "rules:\n  - id: a\n    terms:\n",
            "      s: {indicator: [btc, ltc, eth, trx, xmr], written: split}\n",
            "      w: {indicator: [btc], written: whole}\n",
            "      a: {indicator: [iban, btc], written: any}\n",
            "      d: {indicator: [btc]}\n",
            "      x: {words: [donate]}\n",
            "    condition: s or w or a or d or x\n",
        );
        let loaded = load_str(Path::new("r.yaml"), src).unwrap_or_else(|e| panic!("{e}"));
        let written: Vec<Written> = loaded.set.rules[0]
            .terms
            .iter()
            .map(|t| t.written)
            .collect();
        assert_eq!(
            written,
            [
                Written::Split,
                Written::Whole,
                Written::Any,
                Written::Any,
                Written::Any
            ]
        );
        assert!(
            !loaded
                .warnings
                .iter()
                .any(|w| w.message.contains("written")),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn written_mistakes_are_placed() {
        let src = concat!(
            "rules:\n  - id: a\n    terms:\n",
            "      x: {words: [donate], written: split}\n",
            "      y: {indicator: [btc], written: pieces}\n",
            "      z: {indicator: [btc, iban, telegram], written: split}\n",
            "      v:\n        indicator: messenger\n        written: whole\n",
            "      u: {indicator: [btc], written: [split]}\n",
            "    condition: x or y or z or v or u\n",
        );
        let p = problems(src);
        let errors: Vec<(usize, usize, &str)> = p
            .iter()
            .filter(|(l, ..)| *l == Level::Error)
            .map(|(_, line, col, m)| (*line, *col, m.as_str()))
            .collect();
        let never = |k: &str, w: &str| {
            format!(
                "needs kinds that can be written in pieces (btc, ltc, eth, trx, xmr); '{k}' never is"
            )
            .replace("needs", &format!("'written: {w}' needs"))
        };
        let want: Vec<(usize, usize, String)> = vec![
            (
                4,
                37,
                "term 'x': 'written' applies to indicator terms only; this term has 'words'".into(),
            ),
            (5, 38, "term 'y': 'written' is split | whole | any".into()),
            (6, 28, format!("term 'z': {}", never("iban", "split"))),
            (6, 34, format!("term 'z': {}", never("telegram", "split"))),
            (8, 20, format!("term 'v': {}", never("messenger", "whole"))),
            (10, 38, "term 'u': 'written' is split | whole | any".into()),
        ];
        for (line, col, msg) in &want {
            assert!(
                errors
                    .iter()
                    .any(|(l, c, m)| l == line && c == col && m.starts_with(msg.as_str())),
                "missing {line}:{col} {msg:?} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
    }
}

#[cfg(test)]
mod lexicon_tests {
    use super::*;
    use crate::rules::{condition, Level, Severity, TermKind};

    const EN: &str = "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [join]\n    group:\n      words: [the dawlah]\n";
    const FR: &str = "lexicon:\n  language: fr\n  concepts:\n    call:\n      words: [rejoignez]\n";

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    fn problems(d: &tempfile::TempDir) -> Vec<String> {
        let list = match load_dir(d.path()) {
            Ok(l) => l.warnings,
            Err(e) => e.problems,
        };
        list.iter()
            .map(|p| {
                let file = p.file.strip_prefix(d.path()).unwrap_or(&p.file);
                let level = if p.level == Level::Error {
                    "error"
                } else {
                    "warning"
                };
                format!(
                    "{}:{}:{}: {level}: {}",
                    file.display(),
                    p.mark.line,
                    p.mark.col,
                    p.message
                )
            })
            .collect()
    }

    fn rule(terms: &str, condition: &str) -> String {
        format!("rules:\n  - id: r\n    terms:\n{terms}    condition: {condition}\n")
    }

    #[test]
    fn a_lexicon_term_takes_every_language_unless_narrowed() {
        let d = dir(&[
            ("lex/en.yaml", EN),
            ("lex/fr.yaml", FR),
            // Rule files may sort before the lexicons they name.
            ("a.yaml", &rule("      c: {lexicon: call}\n      g: {lexicon: [group]}\n      f: {lexicon: call, languages: [fr]}\n", "c and g and f")),
        ]);
        let loaded = load_dir(d.path()).unwrap_or_else(|e| panic!("{e}"));
        let terms = &loaded.set.rules[0].terms;
        let TermKind::Lexicon(all) = &terms[0].kind else {
            panic!("{:?}", terms[0].kind)
        };
        let langs: Vec<&str> = all.parts.iter().map(|p| p.language.as_str()).collect();
        assert_eq!(langs, ["en", "fr"]);
        assert_eq!(all.union()[0], ["join", "rejoignez"]);
        let TermKind::Lexicon(fr) = &terms[2].kind else {
            panic!()
        };
        assert_eq!(fr.union()[0], ["rejoignez"]);
        assert!(
            !loaded
                .warnings
                .iter()
                .any(|w| w.message.contains("lexicon")),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn lexicon_mistakes_are_placed() {
        let d = dir(&[
            ("en.yaml", EN),
            (
                "en2.yaml",
                "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [enlist]\n",
            ),
            (
                "bad.yaml",
                "lexicon:\n  language: de\n  concepts:\n    x:\n      word: [y]\n  extra: 1\n",
            ),
            (
                "r.yaml",
                &rule(
                    "      c: {lexicon: cal}\n      g: {lexicon: group, languages: [xx]}\n",
                    "c and g",
                ),
            ),
        ]);
        let p = problems(&d);
        let want = [
            "bad.yaml:5:7: error: concept 'x': unknown key 'word' (did you mean 'words'?)",
            "bad.yaml:6:3: error: lexicon: unknown key 'extra'",
            "en2.yaml:4:5: error: concept 'call' is already defined for language 'en' at",
            "r.yaml:4:20: error: term 'c': unknown lexicon concept 'cal' (did you mean 'call'?)",
            "r.yaml:5:39: error: term 'g': no lexicon has language 'xx'",
        ];
        for w in want {
            assert!(
                p.iter().any(|p| p.starts_with(w)),
                "missing {w:?} in {p:#?}"
            );
        }
    }

    #[test]
    fn a_key_given_twice_in_a_concept_or_a_term_is_placed_at_its_second_use() {
        let d = dir(&[
            (
                "en.yaml",
                "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [join]\n      words: [enlist]\n",
            ),
            (
                "r.yaml",
                &rule(
                    "      c: {lexicon: call}\n      w:\n        words: [x]\n        min_count: 2\n        min_count: 3\n",
                    "c and w",
                ),
            ),
        ]);
        let p = problems(&d);
        let want = [
            "en.yaml:6:7: error: concept 'call': key 'words' appears twice",
            "r.yaml:8:9: error: term 'w': key 'min_count' appears twice",
        ];
        for w in want {
            assert!(p.iter().any(|p| p == w), "missing {w:?} in {p:#?}");
        }
        // Once each: the first use of a key is read, the second only reported.
        let twice = p.iter().filter(|p| p.contains("appears twice")).count();
        assert_eq!(twice, want.len(), "{p:#?}");
    }

    #[test]
    fn an_unused_concept_is_a_warning() {
        let d = dir(&[
            ("en.yaml", EN),
            ("r.yaml", &rule("      c: {lexicon: call}\n", "c")),
        ]);
        let p = problems(&d);
        assert!(
            p.iter().any(|p| p
                == "en.yaml:6:5: warning: lexicon concept 'group' (en) is not used by any rule"),
            "{p:#?}"
        );
        assert!(load_dir(d.path()).is_ok());
    }

    #[test]
    fn the_ruleset_hash_covers_lexicon_files_and_their_lists() {
        let d = dir(&[
            (
                "en.yaml",
                "lexicon:\n  language: en\n  concepts:\n    call:\n      list: calls.txt\n",
            ),
            ("calls.txt", "join\n"),
            ("r.yaml", &rule("      c: {lexicon: call}\n", "c")),
        ]);
        let h1 = load_dir(d.path()).unwrap().set.hash;
        std::fs::write(d.path().join("calls.txt"), "join\nenlist\n").unwrap();
        let h2 = load_dir(d.path()).unwrap().set.hash;
        std::fs::write(
            d.path().join("en.yaml"),
            "lexicon:\n  language: en\n  concepts:\n    call:\n      list: calls.txt\n      words: [x]\n",
        )
        .unwrap();
        let h3 = load_dir(d.path()).unwrap().set.hash;
        assert!(h1 != h2 && h2 != h3 && h1 != h3);
    }

    #[test]
    fn a_file_holds_rules_or_a_lexicon_not_both() {
        let d = dir(&[(
            "en.yaml",
            "lexicon:\n  language: en\n  concepts:\n    call: {words: [join]}\nrules: []\n",
        )]);
        let p = problems(&d);
        assert!(
            p.iter().any(|p| p.starts_with(
                "en.yaml:5:1: error: unknown key 'rules' at the top of a lexicon file"
            )),
            "{p:#?}"
        );
    }

    #[test]
    fn escalate_terms_count_as_used_and_are_not_part_of_them() {
        let src = "rules:\n  - id: r\n    severity: medium\n    terms:\n      a: {words: [x]}\n      b: {words: [y]}\n    condition: any of them\n    escalate:\n      - {when: b, severity: high}\n";
        let loaded = load_str(Path::new("r.yaml"), src).unwrap_or_else(|e| panic!("{e}"));
        let r = &loaded.set.rules[0];
        assert_eq!(
            r.condition,
            crate::rules::Expr::Of(condition::Quantity::AtLeast(1), vec![0])
        );
        assert_eq!(r.escalate.len(), 1);
        assert_eq!(r.escalate[0].severity, Severity::High);
        assert_eq!(r.escalate[0].when_src, "b");
    }

    #[test]
    fn escalate_mistakes_are_placed() {
        let src = "rules:\n  - id: r\n    severity: high\n    terms:\n      a: {words: [x]}\n    escalate:\n      - {when: a and z, severity: critical}\n      - {when: a, severity: urgent}\n      - {when: a, level: high}\n      - {when: a, severity: low}\n";
        let list = match load_str(Path::new("r.yaml"), src) {
            Ok(l) => l.warnings,
            Err(e) => e.problems,
        };
        let p: Vec<String> = list
            .iter()
            .map(|p| format!("{}:{} {}", p.mark.line, p.mark.col, p.message))
            .collect();
        for w in [
            "7:22 escalate: when: unknown term 'z'",
            "8:29 'severity' is info | low | medium | high | critical, not 'urgent'",
            "9:19 escalate: unknown key 'level'",
        ] {
            assert!(
                p.iter().any(|p| p.starts_with(w)),
                "missing {w:?} in {p:#?}"
            );
        }
        // A grade at or below the rule's severity never raises anything.
        let src = "rules:\n  - id: r\n    severity: high\n    terms:\n      a: {words: [x]}\n    condition: a\n    escalate:\n      - {when: a, severity: low}\n";
        let loaded = load_str(Path::new("r.yaml"), src).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.message.contains("never raises")),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn expect_severity_is_read_from_match_posts_only() {
        let src = "rules:\n  - id: r\n    terms:\n      a: {words: [x]}\n    tests:\n      match:\n        - {text: x, expect_severity: high}\n      no_match:\n        - {text: y, expect_severity: low}\n";
        let e = load_str(Path::new("r.yaml"), src).unwrap_err();
        assert!(
            e.problems
                .iter()
                .any(|p| p.mark.line == 9 && p.message.contains("belongs to a 'match' post")),
            "{e}"
        );
        let ok = "rules:\n  - id: r\n    terms:\n      a: {words: [x]}\n    tests:\n      match:\n        - {text: x, expect_severity: high}\n";
        let loaded = load_str(Path::new("r.yaml"), ok).unwrap();
        let t = &loaded.set.rules[0].tests.must_match[0];
        assert_eq!(t.expect_severity, Some(Severity::High));
        assert_eq!(t.fields, vec![(Some("text".to_string()), "x".to_string())]);
    }

    #[test]
    fn a_weights_term_reads_its_file_and_needs_a_positive_at_least() {
        let d = dir(&[
            (
                "m/w.weights",
                "# learned\n2.5 join\n-1 news report\n0.125 the dawlah\n",
            ),
            (
                "r.yaml",
                &rule("      m: {weights: m/w.weights, at_least: 2}\n", "m"),
            ),
        ]);
        let loaded = load_dir(d.path()).unwrap_or_else(|e| panic!("{e}"));
        match &loaded.set.rules[0].terms[0].kind {
            TermKind::Weights(w) => {
                assert_eq!(w.entries, ["join", "news report", "the dawlah"]);
                assert_eq!(w.weights, [2500, -1000, 125]);
                assert_eq!(w.at_least, 2000);
            }
            other => panic!("{other:?}"),
        }
        assert!(loaded.set.rules[0].terms[0].whole_word);
    }

    #[test]
    fn weights_mistakes_are_placed() {
        let d = dir(&[
            ("w.weights", "1.5 join\nabc hijrah\n1.2345 bayah\n2\n  0.5 JOIN\n"),
            (
                "r.yaml",
                &rule(
                    "      a: {weights: w.weights}\n      b: {weights: w.weights, at_least: 0}\n      c: {words: [x], at_least: 1}\n      e: {weights: w.weights, at_least: 1, view: raw}\n",
                    "a or b or c or e",
                ),
            ),
        ]);
        let p = problems(&d);
        for want in [
            "r.yaml:4:20: error: term 'a': a 'weights' term needs 'at_least', the score at which it holds",
            "r.yaml:5:41: error: term 'b': 'at_least' must be a decimal above 0",
            "r.yaml:6:33: error: term 'c': 'at_least' is the score a 'weights' term needs; this term has 'words'",
            "r.yaml:7:50: error: term 'e': a weights term scores whole words of the folded view",
            "w.weights:2:1: error: term 'a': 'abc' is not a weight",
            "w.weights:3:1: error: term 'a': '1.2345' is not a weight",
            "w.weights:4:1: error: term 'a': weight 2 has no word or phrase after it",
            "w.weights:5:7: error: term 'a': entry 'JOIN' folds like the entry on line 1",
        ] {
            assert!(p.iter().any(|l| l.starts_with(want)), "missing {want:?} in {p:#?}");
        }
    }

    #[test]
    fn a_light_stem_entry_must_be_one_folded_word() {
        let d = dir(&[
            (
                "w.weights",
                "1 ~two words
1 ~
1 ~Bctyп
1 ~x1
1 ~bctyп
1 ~مجاهد
",
            ),
            (
                "r.yaml",
                &rule("      a: {weights: w.weights, at_least: 1}\n", "a"),
            ),
        ]);
        let p = problems(&d);
        for line in 1..=4 {
            let want = format!("w.weights:{line}:3: error: term 'a': entry '");
            assert!(
                p.iter()
                    .any(|l| l.starts_with(&want) && l.contains("a '~' entry is the light stem")),
                "missing {want:?} in {p:#?}"
            );
        }
        assert_eq!(
            p.iter().filter(|l| l.contains(": error: ")).count(),
            4,
            "{p:#?}"
        );
    }

    #[test]
    fn the_ruleset_hash_covers_weights_files() {
        let d = dir(&[
            ("m/w.weights", "2.5 join\n"),
            (
                "r.yaml",
                &rule("      m: {weights: m/w.weights, at_least: 2}\n", "m"),
            ),
        ]);
        let first = load_dir(d.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .set
            .hash;
        std::fs::write(d.path().join("m/w.weights"), "2.5 join\n1 hijrah\n").unwrap();
        let second = load_dir(d.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .set
            .hash;
        assert_ne!(first, second);
    }

    #[test]
    fn fallback_is_true_or_false() {
        let d = dir(&[(
            "r.yaml",
            "rules:\n  - id: r\n    status: active\n    fallback: yes\n    terms: {w: {words: [x]}}\n    condition: w\n",
        )]);
        assert_eq!(
            problems(&d),
            ["r.yaml:4:15: error: 'fallback' is true | false"]
        );
        let d = dir(&[(
            "r.yaml",
            "rules:\n  - id: r\n    status: active\n    fallback: true\n    terms: {w: {words: [x]}}\n    condition: w\n",
        )]);
        assert!(
            load_dir(d.path())
                .unwrap_or_else(|e| panic!("{e}"))
                .set
                .rules[0]
                .fallback
        );
    }
}
