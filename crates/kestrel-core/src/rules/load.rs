//! Reading rule files: YAML nodes to checked [`Rule`]s, with every problem placed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::condition::{self, Parsed};
use super::yaml::{self, Mark, Node, ScalarStyle, Value};
use super::{
    Category, Escalation, Level, LexiconPart, LexiconTerm, LoadError, Loaded, Problem, Rule,
    RuleSet, RuleTests, Severity, Status, Term, TermKind, TestPost, View,
};
use crate::indicators::IndicatorKind;
use crate::normalize;

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

/// One concept of one lexicon file.
#[derive(Clone, Debug)]
struct Concept {
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

    /// A file with `lexicon:`: one language's concepts.
    fn lexicon_file(&mut self, file: &Path, root: &Node) {
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
            if let Some(c) = self.concept(file, name, &language, k.mark, v) {
                self.concepts.entry(name.to_string()).or_default().push(c);
            }
        }
    }

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
        let mut seen = HashSet::new();
        for (k, v) in entries {
            let key = k.as_scalar().unwrap_or("");
            if !seen.insert(key) {
                self.error(
                    file,
                    k.mark,
                    None,
                    format!("concept '{name}': key '{key}' appears twice"),
                );
                continue;
            }
            match key {
                "words" | "substrings" | "regex" => {
                    for (e, m) in self.placed_string_list(file, None, Some(&(k, v))) {
                        let checked = if key == "regex" {
                            check_regex(&e, View::Folded, &self.limits)
                        } else {
                            check_literal(&e, View::Folded, &self.limits)
                                .map_err(|msg| format!("entry '{e}' {msg}"))
                        };
                        match checked {
                            Err(msg) => {
                                self.error(file, m, None, format!("concept '{name}': {msg}"))
                            }
                            Ok(()) if key == "words" => c.words.push(e),
                            Ok(()) if key == "substrings" => c.substrings.push(e),
                            Ok(()) => c.regex.push((e, m)),
                        }
                    }
                }
                "list" => {
                    let Some(rel) = v.as_scalar().filter(|_| !v.is_null()) else {
                        self.error(
                            file,
                            v.mark,
                            None,
                            format!("concept '{name}': 'list' is the path of a list file"),
                        );
                        continue;
                    };
                    let path = file.parent().unwrap_or(Path::new("")).join(rel);
                    match std::fs::read(&path) {
                        Ok(bytes) => {
                            let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
                            self.hash_list(&base, file, &path, &bytes);
                            match String::from_utf8(bytes) {
                                Ok(text) => {
                                    let what = format!("concept '{name}'");
                                    c.list = self.list_entries_of(
                                        &path,
                                        None,
                                        &what,
                                        &text,
                                        View::Folded,
                                    );
                                }
                                Err(e) => self.error(
                                    &path,
                                    Mark::default(),
                                    None,
                                    format!(
                                        "list file is not UTF-8 (byte {})",
                                        e.utf8_error().valid_up_to()
                                    ),
                                ),
                            }
                        }
                        Err(e) => self.error(
                            file,
                            v.mark,
                            None,
                            format!("concept '{name}': cannot read list {}: {e}", path.display()),
                        ),
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

    /// A `lexicon:` term: the concepts it names, narrowed to `languages`.
    fn lexicon_term(
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
        let mut parts = Vec::new();
        for (concept, m) in &named {
            let Some(defs) = self.concepts.get_mut(concept.as_str()) else {
                let known: Vec<&str> = self.concepts.keys().map(String::as_str).collect();
                let hint = suggest(concept, &known);
                self.error(
                    file,
                    *m,
                    rid,
                    format!("term '{name}': unknown lexicon concept '{concept}'{hint}"),
                );
                continue;
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
                    concept: concept.clone(),
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
                    *m,
                    rid,
                    format!(
                        "term '{name}': concept '{concept}' has no entries in {}",
                        list.join(", ")
                    ),
                );
            }
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

    fn load_file(&mut self, file: &Path, root: &Node) {
        let Value::Map(entries) = &root.value else {
            self.error(
                file,
                root.mark,
                None,
                format!(
                    "a rule file is a mapping with 'rules:', found {}",
                    root.kind_name()
                ),
            );
            return;
        };
        let mut saw_rules = false;
        for (k, v) in entries {
            match k.as_scalar() {
                Some("rules") => {
                    saw_rules = true;
                    match &v.value {
                        Value::Seq(items) => {
                            for item in items {
                                if self.rules.len() >= self.limits.max_rules {
                                    self.error(
                                        file,
                                        item.mark,
                                        None,
                                        format!(
                                            "more than {} rules in the set (rules.limits.max_rules)",
                                            self.limits.max_rules
                                        ),
                                    );
                                    break;
                                }
                                if let Some(rule) = self.rule(file, item) {
                                    self.rules.push(rule);
                                }
                            }
                        }
                        _ if v.is_null() => {}
                        _ => self.error(
                            file,
                            v.mark,
                            None,
                            format!("'rules' must be a list, found {}", v.kind_name()),
                        ),
                    }
                }
                other => self.error(
                    file,
                    k.mark,
                    None,
                    format!(
                        "unknown key '{}' at the top of a rule file (expected 'rules' or 'lexicon')",
                        other.unwrap_or("?")
                    ),
                ),
            }
        }
        if !saw_rules {
            self.error(
                file,
                root.mark,
                None,
                "no 'rules:' list in this file".into(),
            );
        }
    }

    fn rule(&mut self, file: &Path, node: &Node) -> Option<Rule> {
        let Value::Map(entries) = &node.value else {
            self.error(
                file,
                node.mark,
                None,
                format!("a rule is a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let errors_before = self.error_count();
        let mut fields: HashMap<&str, (&Node, &Node)> = HashMap::new();
        // The id first, so every later message can name the rule.
        let id_node = entries
            .iter()
            .find(|(k, _)| k.as_scalar() == Some("id"))
            .map(|(_, v)| v);
        let id: Option<String> = id_node.and_then(|v| v.as_scalar()).map(str::to_string);
        let rid = id.as_deref();
        for (k, v) in entries {
            let Some(key) = k.as_scalar() else {
                self.error(file, k.mark, rid, "rule keys must be plain words".into());
                continue;
            };
            if !RULE_KEYS.contains(&key) {
                let hint = suggest(key, RULE_KEYS);
                self.error(file, k.mark, rid, format!("unknown key '{key}'{hint}"));
                continue;
            }
            if fields.insert(key, (k, v)).is_some() {
                self.error(file, k.mark, rid, format!("key '{key}' appears twice"));
            }
        }
        let id = match (id, id_node) {
            (Some(id), Some(n)) if id.is_empty() || n.is_null() => {
                self.error(
                    file,
                    n.mark,
                    None,
                    "'id' is empty: every rule needs an id, such as fin.crypto-appeal".into(),
                );
                return None;
            }
            (Some(id), Some(n)) => {
                if !valid_id(&id) {
                    self.error(
                        file,
                        n.mark,
                        Some(&id),
                        "an id is [a-z0-9][a-z0-9._-]* (lower case, digits, '.', '_', '-')".into(),
                    );
                }
                if let Some((f, m)) = self.ids.get(&id) {
                    let msg = format!("id is already used at {}:{}:{}", f.display(), m.line, m.col);
                    self.error(file, n.mark, Some(&id), msg);
                } else {
                    self.ids.insert(id.clone(), (file.to_path_buf(), n.mark));
                }
                id
            }
            (None, Some(n)) => {
                self.error(file, n.mark, None, "'id' must be a string".into());
                return None;
            }
            _ => {
                self.error(file, node.mark, None, "a rule needs an 'id'".into());
                return None;
            }
        };
        let rid = Some(id.as_str());

        let revision = match fields.get("revision") {
            None => 1,
            Some((_, v)) => match v.as_scalar().and_then(|s| s.parse::<u32>().ok()) {
                Some(r) if plain(v) => r,
                _ => {
                    self.error(
                        file,
                        v.mark,
                        rid,
                        "'revision' must be a whole number".into(),
                    );
                    1
                }
            },
        };
        let title = self
            .string(file, rid, fields.get("title"))
            .unwrap_or_else(|| id.clone());
        let description = self
            .string(file, rid, fields.get("description"))
            .unwrap_or_default();
        let category = self
            .enum_value(
                file,
                rid,
                fields.get("category"),
                "category",
                Category::parse,
                Category::ALL.iter().map(|c| c.as_str()),
            )
            .unwrap_or(Category::Other);
        let severity = self
            .enum_value(
                file,
                rid,
                fields.get("severity"),
                "severity",
                Severity::parse,
                Severity::ALL.iter().map(|c| c.as_str()),
            )
            .unwrap_or(Severity::Medium);
        let status = self
            .enum_value(
                file,
                rid,
                fields.get("status"),
                "status",
                Status::parse,
                Status::ALL.iter().map(|c| c.as_str()),
            )
            .unwrap_or(Status::Active);
        if !fields.contains_key("status") {
            // A missing status keeps meaning active, so existing rule files
            // act as they always did; the warning makes the choice explicit.
            self.warn(
                file,
                node.mark,
                rid,
                "no 'status': the rule is active and its alerts act at once; write 'status: shadow' to measure a new rule first, or 'status: active'".into(),
            );
        }
        let tags = self.string_list(file, rid, fields.get("tags"));
        let languages = self.string_list(file, rid, fields.get("languages"));
        let references = self.string_list(file, rid, fields.get("references"));
        let owner = self.string(file, rid, fields.get("owner"));
        let review_by = match fields.get("review_by") {
            None => None,
            Some((_, v)) => {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                match v.as_scalar().map(|s| time::Date::parse(s, fmt)) {
                    Some(Ok(d)) => {
                        // Said here, before any error of the rule can end its
                        // loading, so the warning shows beside the errors.
                        if d < time::OffsetDateTime::now_utc().date() {
                            self.warn(
                                file,
                                v.mark,
                                rid,
                                format!(
                                    "review_by {d} has passed: review the rule and move the date"
                                ),
                            );
                        }
                        Some(d)
                    }
                    _ => {
                        self.error(
                            file,
                            v.mark,
                            rid,
                            "'review_by' must be a date YYYY-MM-DD".into(),
                        );
                        None
                    }
                }
            }
        };
        let post_fields = fields.get("fields").map(|(_, v)| {
            let list = self.string_list(file, rid, Some(&(v, v)));
            if list.is_empty() {
                self.error(
                    file,
                    v.mark,
                    rid,
                    "'fields' is empty: the rule would scan nothing".into(),
                );
            }
            list
        });

        // Terms.
        let mut terms: Vec<Term> = Vec::new();
        let mut broken: Vec<String> = Vec::new();
        match fields.get("terms") {
            None => self.error(file, node.mark, rid, "a rule needs 'terms'".into()),
            Some((_, v)) => match &v.value {
                Value::Map(entries) if !entries.is_empty() => {
                    if let Some((k, _)) = entries.get(self.limits.max_terms_per_rule) {
                        self.error(
                            file,
                            k.mark,
                            rid,
                            format!(
                                "more than {} terms in one rule (rules.limits.max_terms_per_rule)",
                                self.limits.max_terms_per_rule
                            ),
                        );
                    }
                    for (k, tv) in entries.iter().take(self.limits.max_terms_per_rule) {
                        let Some(name) = k.as_scalar() else {
                            self.error(file, k.mark, rid, "a term name must be a word".into());
                            continue;
                        };
                        if name.is_empty() || !name.chars().all(condition::is_name_char) {
                            self.error(file, k.mark, rid, format!("term name '{name}' may hold only letters, digits, '_', '-' and '.'"));
                            continue;
                        }
                        if name.chars().all(|c| c.is_ascii_digit()) {
                            self.error(
                                file,
                                k.mark,
                                rid,
                                format!("term name '{name}' must not be a number"),
                            );
                            continue;
                        }
                        if condition::RESERVED.contains(&name) {
                            self.error(file, k.mark, rid, format!("'{name}' is a reserved word of conditions and cannot name a term"));
                            continue;
                        }
                        if terms.iter().any(|t| t.name == name) {
                            self.error(
                                file,
                                k.mark,
                                rid,
                                format!("term '{name}' is defined twice"),
                            );
                            continue;
                        }
                        match self.term(file, rid, name, k.mark, tv) {
                            Some(t) => terms.push(t),
                            None => broken.push(name.to_string()),
                        }
                    }
                }
                _ => self.error(
                    file,
                    v.mark,
                    rid,
                    "'terms' must be a mapping of term names to definitions".into(),
                ),
            },
        }

        // Conditions. A term whose definition had an error is still a name
        // the condition may use (its error is already reported; an "unknown
        // term" on top would send the author looking in the wrong place).
        let names: Vec<String> = terms
            .iter()
            .map(|t| t.name.clone())
            .chain(broken.iter().cloned())
            .collect();
        let lookup = |n: &str| names.iter().position(|m| m == n);
        let parse_cond = |ctx: &mut Ctx, key: &str| -> Option<(Parsed, String)> {
            let (k, v) = fields.get(key)?;
            let Some(src) = v.as_scalar() else {
                ctx.error(file, v.mark, rid, format!("'{key}' must be a string"));
                return None;
            };
            if src.trim().is_empty() {
                // An empty value has its mark where the next token starts,
                // often the next rule: name the key instead. The usual cause
                // is an unquoted `#a >= 2`, which YAML reads as a comment.
                ctx.error(
                    file,
                    k.mark,
                    rid,
                    format!(
                        "{key}: the condition is empty (a value that starts with '#' is a YAML \
                         comment: quote it, as in {key}: '#a >= 2')"
                    ),
                );
                return None;
            }
            match condition::parse(src, &lookup) {
                Ok(p) => Some((p, src.to_string())),
                Err(e) => {
                    let mark = offset_mark(v, src, e.offset);
                    ctx.error(file, mark, rid, format!("{key}: {}", e.message));
                    None
                }
            }
        };
        let cond = parse_cond(self, "condition");
        let unless = parse_cond(self, "unless");
        let escalate = match fields.get("escalate") {
            None => Some(Vec::new()),
            Some((_, v)) => self.escalate(file, rid, v, &lookup),
        };
        if fields.contains_key("condition") && cond.is_none()
            || fields.contains_key("unless") && unless.is_none()
            || escalate.is_none()
            || !broken.is_empty()
        {
            return None;
        }
        let escalate = escalate.unwrap_or_default();
        let mut unless_terms = Vec::new();
        if let Some((u, _)) = &unless {
            if u.uses_them() {
                let (_, v) = fields["unless"];
                self.error(
                    file,
                    v.mark,
                    rid,
                    "'unless' cannot use 'of them'; name its terms".into(),
                );
            }
            u.named_terms(&mut unless_terms);
        }
        let (cond_parsed, condition_src) = cond.unwrap_or((
            Parsed::OfThem(condition::Quantity::AtLeast(1)),
            "any of them".to_string(),
        ));
        let mut cond_named = Vec::new();
        cond_parsed.named_terms(&mut cond_named);
        let mut escalate_terms = Vec::new();
        for (when, _, _, _) in &escalate {
            when.named_terms(&mut escalate_terms);
        }
        // `them` means every term that `unless` does not use and that is
        // not only a grade's (`escalate`).
        let them: Vec<usize> = (0..terms.len())
            .filter(|t| {
                !unless_terms.contains(t) && (cond_named.contains(t) || !escalate_terms.contains(t))
            })
            .collect();
        let mut used = unless_terms.clone();
        used.extend(&escalate_terms);
        if cond_parsed.uses_them() {
            used.extend(&them);
        }
        cond_parsed.named_terms(&mut used);
        if cond_parsed.uses_them() && them.is_empty() && !terms.is_empty() {
            self.error(
                file,
                node.mark,
                rid,
                "'of them' has no terms: every term is used by 'unless' or only by 'escalate'"
                    .into(),
            );
        }
        for (i, t) in terms.iter().enumerate() {
            if !used.contains(&i) {
                self.error(
                    file,
                    t.mark,
                    rid,
                    format!("term '{}' is not used by 'condition' or 'unless'", t.name),
                );
            }
        }
        let condition = cond_parsed.resolve(&them);
        let unless_src = unless.as_ref().map(|(_, s)| s.clone());
        let unless = unless.map(|(u, _)| u.resolve(&them));
        for (_, when_src, sev, mark) in &escalate {
            if *sev <= severity {
                self.warn(
                    file,
                    *mark,
                    rid,
                    format!(
                        "escalate: '{when_src}' gives {sev}, which is not above the rule's severity {severity}, so it never raises an alert"
                    ),
                );
            }
        }
        let escalate: Vec<Escalation> = escalate
            .into_iter()
            .map(|(when, when_src, severity, mark)| Escalation {
                when: when.resolve(&them),
                when_src,
                severity,
                mark,
            })
            .collect();

        let tests = match fields.get("tests") {
            None => RuleTests::default(),
            Some((_, v)) => self.tests(file, rid, v),
        };

        if self.error_count() > errors_before {
            return None;
        }
        if status != Status::Disabled && tests.must_match.is_empty() {
            self.warn(
                file,
                node.mark,
                rid,
                "no 'match' tests: nothing proves the rule fires".into(),
            );
        }
        if status != Status::Disabled && tests.no_match.is_empty() {
            self.warn(
                file,
                node.mark,
                rid,
                "no 'no_match' tests: nothing proves the rule stays quiet on near misses".into(),
            );
        }
        Some(Rule {
            id,
            revision,
            title,
            description,
            category,
            severity,
            status,
            tags,
            languages,
            owner,
            review_by,
            references,
            fields: post_fields,
            terms,
            condition,
            unless,
            escalate,
            condition_src,
            unless_src,
            tests,
            file: file.to_path_buf(),
            mark: node.mark,
        })
    }

    /// `escalate:`, a list of `{when: CONDITION, severity: LEVEL}`; `None`
    /// when an entry is wrong (each problem is reported).
    fn escalate(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<(Parsed, String, Severity, Mark)>> {
        let errors_before = self.error_count();
        let Value::Seq(items) = &node.value else {
            self.error(
                file,
                node.mark,
                rid,
                "'escalate' is a list of {when: CONDITION, severity: LEVEL}".into(),
            );
            return None;
        };
        if items.len() > MAX_GRADES {
            self.error(
                file,
                node.mark,
                rid,
                format!(
                    "'escalate' has {} entries; at most {MAX_GRADES}",
                    items.len()
                ),
            );
        }
        let mut out = Vec::new();
        for item in items {
            let Value::Map(entries) = &item.value else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    format!(
                        "an 'escalate' entry is a mapping {{when: CONDITION, severity: LEVEL}}, found {}",
                        item.kind_name()
                    ),
                );
                continue;
            };
            let mut when = None;
            let mut severity = None;
            for (k, v) in entries {
                match k.as_scalar() {
                    Some("when") if when.is_none() => when = Some((k, v)),
                    Some("severity") if severity.is_none() => {
                        severity = Some(self.enum_value(
                            file,
                            rid,
                            Some(&(k, v)),
                            "severity",
                            Severity::parse,
                            Severity::ALL.iter().map(|c| c.as_str()),
                        ))
                    }
                    Some(key @ ("when" | "severity")) => self.error(
                        file,
                        k.mark,
                        rid,
                        format!("escalate: key '{key}' appears twice"),
                    ),
                    other => {
                        let other = other.unwrap_or("?");
                        let hint = suggest(other, &["when", "severity"]);
                        self.error(
                            file,
                            k.mark,
                            rid,
                            format!("escalate: unknown key '{other}'{hint}"),
                        );
                    }
                }
            }
            let Some((wk, wv)) = when else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    "escalate: an entry needs 'when'".into(),
                );
                continue;
            };
            let Some(severity) = severity else {
                self.error(
                    file,
                    item.mark,
                    rid,
                    "escalate: an entry needs 'severity'".into(),
                );
                continue;
            };
            let Some(src) = wv.as_scalar().filter(|s| !s.trim().is_empty()) else {
                self.error(
                    file,
                    wk.mark,
                    rid,
                    "escalate: 'when' is a non-empty condition (quote one that starts with '#')"
                        .into(),
                );
                continue;
            };
            match condition::parse(src, lookup) {
                Ok(p) if p.uses_them() => self.error(
                    file,
                    wv.mark,
                    rid,
                    "escalate: 'when' cannot use 'of them'; name its terms".into(),
                ),
                Ok(p) => {
                    if let Some(sev) = severity {
                        out.push((p, src.to_string(), sev, item.mark));
                    }
                }
                Err(e) => {
                    let mark = offset_mark(wv, src, e.offset);
                    self.error(file, mark, rid, format!("escalate: when: {}", e.message));
                }
            }
        }
        (self.error_count() == errors_before).then_some(out)
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

    fn term(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        name: &str,
        mark: Mark,
        node: &Node,
    ) -> Option<Term> {
        let Value::Map(entries) = &node.value else {
            self.error(file, node.mark, rid, format!("term '{name}' must be a mapping with one of words, substrings, regex, list, indicator, lexicon"));
            return None;
        };
        let errors_before = self.error_count();
        let mut kind_node: Option<(&str, &Node)> = None;
        let mut view = None;
        let mut min_count = 1;
        let mut whole_word: Option<(bool, Mark)> = None;
        let mut languages: Option<&Node> = None;
        let mut seen = HashSet::new();
        for (k, v) in entries {
            let key = k.as_scalar().unwrap_or("");
            if !seen.insert(key) {
                self.error(
                    file,
                    k.mark,
                    rid,
                    format!("term '{name}': key '{key}' appears twice"),
                );
                continue;
            }
            match key {
                "words" | "substrings" | "regex" | "list" | "indicator" | "lexicon" => {
                    if let Some((other, _)) = kind_node {
                        self.error(file, k.mark, rid, format!("term '{name}' has both '{other}' and '{key}'; give each its own term"));
                    } else {
                        kind_node = Some((
                            TERM_KINDS
                                .iter()
                                .find(|s| **s == key)
                                .copied()
                                .unwrap_or("words"),
                            v,
                        ));
                    }
                }
                "languages" => languages = Some(v),
                "view" => match v.as_scalar() {
                    Some("raw") => view = Some((View::Raw, v.mark)),
                    Some("folded") => view = Some((View::Folded, v.mark)),
                    _ => self.error(
                        file,
                        v.mark,
                        rid,
                        format!("term '{name}': 'view' is raw | folded"),
                    ),
                },
                "min_count" => match v.as_scalar().and_then(|s| s.parse::<u32>().ok()) {
                    Some(n) if n >= 1 && plain(v) => min_count = n,
                    _ => self.error(
                        file,
                        v.mark,
                        rid,
                        format!("term '{name}': 'min_count' must be a whole number of at least 1"),
                    ),
                },
                "whole_word" => match v.as_scalar() {
                    Some("true") if plain(v) => whole_word = Some((true, v.mark)),
                    Some("false") if plain(v) => whole_word = Some((false, v.mark)),
                    _ => self.error(
                        file,
                        v.mark,
                        rid,
                        format!("term '{name}': 'whole_word' is true | false"),
                    ),
                },
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
        let Some((kind_key, kv)) = kind_node else {
            self.error(
                file,
                mark,
                rid,
                format!(
                    "term '{name}' needs one of words, substrings, regex, list, indicator, lexicon"
                ),
            );
            return None;
        };
        if let (Some(l), false) = (languages, kind_key == "lexicon") {
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
        let view_mark = view.map(|(_, m)| m);
        let mut view = view.map(|(v, _)| v).unwrap_or(default_view);
        let kind = match kind_key {
            "words" | "substrings" => {
                let entries = self.pattern_list(file, rid, name, kind_key, kv, view);
                if kind_key == "words" {
                    TermKind::Words(entries)
                } else {
                    TermKind::Substrings(entries)
                }
            }
            "regex" => {
                // Each pattern with its own place: in a list, its element.
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
                let pats: Vec<String> = placed.into_iter().map(|(p, _)| p).collect();
                TermKind::Regex(pats)
            }
            "lexicon" => self.lexicon_term(file, rid, name, kv, languages, view)?,
            "list" => {
                let Some(rel) = kv.as_scalar().filter(|_| !kv.is_null()) else {
                    self.error(
                        file,
                        kv.mark,
                        rid,
                        format!("term '{name}': 'list' is the path of a list file"),
                    );
                    return None;
                };
                let path = file.parent().unwrap_or(Path::new("")).join(rel);
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
                        self.hash_list(&base, file, &path, &bytes);
                        match String::from_utf8(bytes) {
                            Ok(text) => {
                                let what = format!("term '{name}'");
                                let entries = self.list_entries_of(&path, rid, &what, &text, view);
                                if entries.is_empty() {
                                    self.error(
                                        file,
                                        kv.mark,
                                        rid,
                                        format!(
                                            "term '{name}': list {} has no entries",
                                            path.display()
                                        ),
                                    );
                                }
                                TermKind::List { path, entries }
                            }
                            Err(e) => {
                                self.error(
                                    &path,
                                    Mark::default(),
                                    rid,
                                    format!(
                                        "list file is not UTF-8 (byte {})",
                                        e.utf8_error().valid_up_to()
                                    ),
                                );
                                return None;
                            }
                        }
                    }
                    Err(e) => {
                        self.error(
                            file,
                            kv.mark,
                            rid,
                            format!("term '{name}': cannot read list {}: {e}", path.display()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                let names = self.string_list(file, rid, Some(&(kv, kv)));
                let mut kinds = Vec::new();
                for n in &names {
                    match IndicatorKind::from_name(n) {
                        Some(k) => kinds.push(k),
                        None => {
                            let all: Vec<&str> =
                                IndicatorKind::ALL.iter().map(|k| k.name()).collect();
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
                TermKind::Indicator(kinds)
            }
        };
        let whole_word = match (&kind, whole_word) {
            (TermKind::Lexicon(_), Some((_, m))) => {
                self.error(file, m, rid, format!("term '{name}': 'whole_word' does not apply to a lexicon term: its concepts' words and lists are whole words, their substrings are not"));
                false
            }
            (TermKind::Regex(_) | TermKind::Indicator(_), Some((_, m))) => {
                self.error(file, m, rid, format!("term '{name}': 'whole_word' applies to words, substrings and lists; a regex says its own boundaries with \\b"));
                false
            }
            (_, Some((w, _))) => w,
            (TermKind::Words(_) | TermKind::List { .. }, None) => true,
            _ => false,
        };
        if self.error_count() > errors_before {
            return None;
        }
        Some(Term {
            name: name.to_string(),
            kind,
            view,
            min_count,
            whole_word,
            mark,
        })
    }

    fn hash_list(&mut self, base: &Path, _rule_file: &Path, path: &Path, bytes: &[u8]) {
        // Lists may sit outside the rule directory; hash them by their path as written.
        let mut root = base.to_path_buf();
        while !path.starts_with(&root) && root.pop() {}
        self.hash_file(&root, path, bytes);
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

    /// Entries of a list file; `what` names the term or concept in messages.
    fn list_entries_of(
        &mut self,
        path: &Path,
        rid: Option<&str>,
        what: &str,
        text: &str,
        view: View,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            // `#` starts a comment at the start of a line or after white
            // space (`entry  # why it is here`); `c#` stays an entry.
            let line = line
                .char_indices()
                .find(|&(j, c)| {
                    c == '#'
                        && line[..j]
                            .chars()
                            .next_back()
                            .is_some_and(char::is_whitespace)
                })
                .map_or(line, |(j, _)| &line[..j]);
            let entry = line.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            if out.len() >= self.limits.max_list_entries {
                self.error(
                    path,
                    Mark {
                        line: i + 1,
                        col: 1,
                    },
                    rid,
                    format!(
                        "{what}: more than {} entries in one list (rules.limits.max_list_entries)",
                        self.limits.max_list_entries
                    ),
                );
                break;
            }
            if let Err(msg) = check_literal(entry, view, &self.limits) {
                let col = line.find(entry).unwrap_or(0) + 1;
                self.error(
                    path,
                    Mark { line: i + 1, col },
                    rid,
                    format!("{what}: list entry '{entry}' {msg}"),
                );
            } else {
                out.push(entry.to_string());
            }
        }
        out
    }

    fn tests(&mut self, file: &Path, rid: Option<&str>, node: &Node) -> RuleTests {
        let mut tests = RuleTests::default();
        let Value::Map(entries) = &node.value else {
            self.error(
                file,
                node.mark,
                rid,
                "'tests' must be a mapping with 'match' and 'no_match'".into(),
            );
            return tests;
        };
        for (k, v) in entries {
            let key = k.as_scalar().unwrap_or("");
            let target = match key {
                "match" => &mut tests.must_match,
                "no_match" => &mut tests.no_match,
                other => {
                    let hint = suggest(other, &["match", "no_match"]);
                    self.error(
                        file,
                        k.mark,
                        rid,
                        format!("tests: unknown key '{other}'{hint}"),
                    );
                    continue;
                }
            };
            let items: Vec<&Node> = match &v.value {
                Value::Seq(items) => items.iter().collect(),
                _ if v.is_null() => Vec::new(),
                _ => {
                    self.error(
                        file,
                        v.mark,
                        rid,
                        format!("tests: '{key}' must be a list of posts"),
                    );
                    continue;
                }
            };
            let mut posts = Vec::new();
            let mut problems = Vec::new();
            for item in items {
                match &item.value {
                    Value::Scalar(s, _) => posts.push(TestPost {
                        fields: vec![(None, s.clone())],
                        expect_severity: None,
                        mark: item.mark,
                    }),
                    Value::Map(fields) => {
                        let mut post = TestPost {
                            fields: Vec::new(),
                            expect_severity: None,
                            mark: item.mark,
                        };
                        for (fk, fv) in fields {
                            if fk.as_scalar() == Some(EXPECT_SEVERITY) {
                                match fv.as_scalar().and_then(Severity::parse) {
                                    _ if key != "match" => problems.push((
                                        fk.mark,
                                        format!("'{EXPECT_SEVERITY}' belongs to a 'match' post: a 'no_match' post raises no alert"),
                                    )),
                                    Some(sev) => post.expect_severity = Some(sev),
                                    None => problems.push((
                                        fv.mark,
                                        format!(
                                            "'{EXPECT_SEVERITY}' is {}",
                                            Severity::ALL
                                                .iter()
                                                .map(|s| s.as_str())
                                                .collect::<Vec<_>>()
                                                .join(" | ")
                                        ),
                                    )),
                                }
                                continue;
                            }
                            match (fk.as_scalar(), fv.as_scalar()) {
                                (Some(f), Some(t)) => {
                                    post.fields.push((Some(f.to_string()), t.to_string()))
                                }
                                _ => problems.push((
                                    fv.mark,
                                    "a test post field maps a field name to its text".to_string(),
                                )),
                            }
                        }
                        if post.fields.is_empty() {
                            problems.push((
                                item.mark,
                                "a test post needs at least one field".to_string(),
                            ));
                        }
                        posts.push(post);
                    }
                    Value::Seq(_) => problems.push((
                        item.mark,
                        "a test post is a string or a mapping of field names to text".to_string(),
                    )),
                }
            }
            for (m, msg) in problems {
                self.error(file, m, rid, format!("tests: {msg}"));
            }
            target.extend(posts);
        }
        tests
    }
}

/// At most this many `escalate` entries per rule.
pub const MAX_GRADES: usize = 64;

/// The key of a `match` test post that asserts the alert's severity; a
/// post field cannot have this name.
pub const EXPECT_SEVERITY: &str = "expect_severity";

const RULE_KEYS: &[&str] = &[
    "id",
    "revision",
    "title",
    "description",
    "category",
    "severity",
    "status",
    "tags",
    "languages",
    "owner",
    "review_by",
    "references",
    "fields",
    "terms",
    "condition",
    "unless",
    "escalate",
    "tests",
];
const TERM_KINDS: &[&str] = &[
    "words",
    "substrings",
    "regex",
    "list",
    "indicator",
    "lexicon",
];
const TERM_KEYS: &[&str] = &[
    "words",
    "substrings",
    "regex",
    "list",
    "indicator",
    "lexicon",
    "languages",
    "view",
    "min_count",
    "whole_word",
];

fn plain(v: &Node) -> bool {
    matches!(v.value, Value::Scalar(_, ScalarStyle::Plain))
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

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// A literal pattern must still say something once folded.
fn check_literal(s: &str, view: View, limits: &RuleLimits) -> Result<(), String> {
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

/// The position of a character offset inside a condition scalar. Exact for
/// single-line plain and quoted scalars; block scalars point at their line.
fn offset_mark(v: &Node, src: &str, offset: usize) -> Mark {
    match &v.value {
        Value::Scalar(_, ScalarStyle::Plain) if !src.contains('\n') => Mark {
            line: v.mark.line,
            col: v.mark.col + offset,
        },
        Value::Scalar(_, ScalarStyle::Quoted)
            if !src.contains('\n') && !src.contains(['\\', '\'', '"']) =>
        {
            Mark {
                line: v.mark.line,
                col: v.mark.col + 1 + offset,
            }
        }
        _ => v.mark,
    }
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
    use crate::rules::Level;

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
}

#[cfg(test)]
mod lexicon_tests {
    use super::*;
    use crate::rules::Level;

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
}
