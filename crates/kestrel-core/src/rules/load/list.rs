//! List files: one entry a line, with `#` comments.

use std::path::{Path, PathBuf};

use super::term::check_literal;
use super::Ctx;
use crate::rules::yaml::{Mark, Node};
use crate::rules::View;

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
        let Some(rel) = node.as_scalar().filter(|_| !node.is_null()) else {
            self.error(
                file,
                node.mark,
                rid,
                format!("{what}: 'list' is the path of a list file"),
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
                    format!("{what}: cannot read list {}: {e}", path.display()),
                );
                return None;
            }
        };
        let base = file.parent().unwrap_or(Path::new("")).to_path_buf();
        self.hash_list(&base, &path, &bytes);
        match String::from_utf8(bytes) {
            Ok(text) => {
                let entries = self.list_entries_of(&path, rid, what, &text, view);
                Some((path, entries))
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
                None
            }
        }
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
