//! List files: one entry a line, with `#` comments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::term::check_literal;
use super::Ctx;
use crate::normalize;
use crate::rules::yaml::{Mark, Node};
use crate::rules::{parse_milli, View};

impl Ctx {
    /// The list file a `list:` value names (relative to `file`), hashed
    /// into the set's hash, with its entries; `None` when it cannot be read
    /// or is not UTF-8 (reported). `what` names the term or concept.
    pub(super) fn list_file(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        what: &str,
        node: &Node,
        view: View,
    ) -> Option<(PathBuf, Vec<String>)> {
        let (path, text) = self.read_listed(file, rid, what, node, "list")?;
        let entries = self.list_entries_of(&path, rid, what, &text, view);
        Some((path, entries))
    }

    /// The file a `list:` or `weights:` value (`key`) names, relative to
    /// `file`, read as UTF-8 and hashed into the set's hash; `None` when it
    /// cannot be read or is not UTF-8 (reported).
    pub(super) fn read_listed(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        what: &str,
        node: &Node,
        key: &str,
    ) -> Option<(PathBuf, String)> {
        let Some(rel) = node.as_scalar().filter(|_| !node.is_null()) else {
            self.error(
                file,
                node.mark,
                rid,
                format!("{what}: '{key}' is the path of a {key} file"),
            );
            return None;
        };
        let path = file.parent().unwrap_or(Path::new("")).join(rel);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(
                    file,
                    node.mark,
                    rid,
                    format!("{what}: cannot read {key} {}: {e}", path.display()),
                );
                return None;
            }
        };
        let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
        self.hash_list(&base, &path, &bytes);
        match String::from_utf8(bytes) {
            Ok(text) => Some((path, text)),
            Err(e) => {
                self.error(
                    &path,
                    Mark::default(),
                    rid,
                    format!(
                        "{key} file is not UTF-8 (byte {})",
                        e.utf8_error().valid_up_to()
                    ),
                );
                None
            }
        }
    }

    /// The entries of a weights file: `WEIGHT PHRASE` a line (the weight a
    /// decimal with at most three places, then white space, then a whole
    /// word or phrase), `#` lines and blank lines skipped. Every mistake is
    /// placed at its line and column; an entry that folds like an earlier
    /// one is a mistake, since the score counts each entry once. An entry
    /// `~STEM` scores every word whose light stem is STEM.
    pub(super) fn weights_entries(
        &mut self,
        path: &Path,
        rid: Option<&str>,
        what: &str,
        text: &str,
    ) -> (Vec<String>, Vec<i32>) {
        let (mut entries, mut weights) = (Vec::new(), Vec::new());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let at = |col: usize| Mark { line: i + 1, col };
            let lead = line.len() - line.trim_start().len();
            let (num, rest) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            let entry = rest.trim();
            let Some(w) = parse_milli(num) else {
                self.error(
                    path,
                    at(lead + 1),
                    rid,
                    format!("{what}: '{num}' is not a weight (a decimal with at most three places, like -1.25)"),
                );
                continue;
            };
            if entry.is_empty() {
                self.error(
                    path,
                    at(lead + 1),
                    rid,
                    format!("{what}: weight {num} has no word or phrase after it"),
                );
                continue;
            }
            // The weight, the one white-space character split at, then `rest`.
            let col = lead + num.len() + 1 + rest.find(entry).unwrap_or(0) + 1;
            if entries.len() >= self.limits.max_list_entries {
                self.error(
                    path,
                    at(col),
                    rid,
                    format!(
                        "{what}: more than {} entries in one weights file (rules.limits.max_list_entries)",
                        self.limits.max_list_entries
                    ),
                );
                break;
            }
            // `~STEM`: the light stem of a folded Russian or Arabic word
            // (normalize::light_stem), written as the stemmer writes it.
            let key = if let Some(stem) = entry.strip_prefix('~') {
                // (A Russian stem may have lost its only Cyrillic letter with
                // its ending: folding writes `в` as `b`, `о` as `o`.)
                if stem.is_empty()
                    || !stem.chars().all(char::is_alphabetic)
                    || normalize::fold(stem) != stem
                {
                    self.error(
                        path,
                        at(col),
                        rid,
                        format!("{what}: entry '{entry}': a '~' entry is the light stem of one folded Russian or Arabic word (letters only, as `kestrel explain --format json` writes it in `stemmed`)"),
                    );
                    continue;
                }
                entry.to_string()
            } else {
                if let Err(msg) = check_literal(entry, View::Folded, &self.limits) {
                    self.error(path, at(col), rid, format!("{what}: entry '{entry}' {msg}"));
                    continue;
                }
                normalize::fold(entry)
            };
            if let Some(first) = seen.get(&key) {
                self.error(
                    path,
                    at(col),
                    rid,
                    format!("{what}: entry '{entry}' folds like the entry on line {first}; each entry is counted once, give it one weight"),
                );
                continue;
            }
            seen.insert(key, i + 1);
            entries.push(entry.to_string());
            weights.push(w);
        }
        (entries, weights)
    }

    fn hash_list(&mut self, base: &Path, path: &Path, bytes: &[u8]) {
        // Lists may sit outside the rule directory; hash them by their path as written.
        let mut root = base.to_path_buf();
        while !path.starts_with(&root) && root.pop() {}
        self.hash_file(&root, path, bytes);
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
}
