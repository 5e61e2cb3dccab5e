//! One rule of a rule file: its id, header fields and terms.

use std::collections::HashMap;
use std::path::Path;

use super::{plain, suggest, Ctx};
use crate::rules::condition;
use crate::rules::yaml::{Node, Value};
use crate::rules::{Category, Rule, RuleTests, Severity, Status, Term};

impl Ctx {
    pub(super) fn load_file(&mut self, file: &Path, root: &Node) {
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
                    self.rule_list(file, v);
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

    /// The `rules:` list of a file, up to `max_rules` in the whole set.
    fn rule_list(&mut self, file: &Path, v: &Node) {
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

    /// One rule: `None` when it has an error (each problem is reported).
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
        // The id first, so every later message can name the rule.
        let id_node = entries
            .iter()
            .find(|(k, _)| k.as_scalar() == Some("id"))
            .map(|(_, v)| v);
        let id: Option<String> = id_node.and_then(|v| v.as_scalar()).map(str::to_string);
        let fields = self.rule_fields(file, id.as_deref(), entries);
        let id = self.rule_id(file, node, id, id_node)?;
        let rid = Some(id.as_str());
        let header = self.rule_header(file, rid, node, &id, &fields);
        let (terms, broken) = self.rule_terms(file, rid, node, &fields);
        let conditions = self.rule_conditions(file, rid, node, &fields, &terms, &broken)?;
        self.warn_low_grades(file, rid, &conditions.escalate, header.severity);
        let tests = match fields.get("tests") {
            None => RuleTests::default(),
            Some((_, v)) => self.tests(file, rid, v),
        };
        if self.error_count() > errors_before {
            return None;
        }
        self.warn_untested(file, rid, node, header.status, &tests);
        Some(Rule {
            id,
            revision: header.revision,
            title: header.title,
            description: header.description,
            category: header.category,
            severity: header.severity,
            status: header.status,
            tags: header.tags,
            languages: header.languages,
            owner: header.owner,
            review_by: header.review_by,
            references: header.references,
            fields: header.fields,
            terms,
            condition: conditions.condition,
            unless: conditions.unless,
            escalate: conditions.escalate,
            fallback: header.fallback,
            condition_src: conditions.condition_src,
            unless_src: conditions.unless_src,
            tests,
            file: file.to_path_buf(),
            mark: node.mark,
        })
    }

    /// The rule's keys by name; unknown and repeated keys are errors.
    fn rule_fields<'a>(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        entries: &'a [(Node, Node)],
    ) -> Fields<'a> {
        let mut fields: Fields = HashMap::new();
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
        fields
    }

    /// The rule's `id`, checked and claimed; `None` when the rule has no
    /// usable id, which ends its loading.
    fn rule_id(
        &mut self,
        file: &Path,
        node: &Node,
        id: Option<String>,
        id_node: Option<&Node>,
    ) -> Option<String> {
        match (id, id_node) {
            (Some(id), Some(n)) if id.is_empty() || n.is_null() => {
                self.error(
                    file,
                    n.mark,
                    None,
                    "'id' is empty: every rule needs an id, such as fin.crypto-appeal".into(),
                );
                None
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
                Some(id)
            }
            (None, Some(n)) => {
                self.error(file, n.mark, None, "'id' must be a string".into());
                None
            }
            _ => {
                self.error(file, node.mark, None, "a rule needs an 'id'".into());
                None
            }
        }
    }

    /// Everything a rule says about itself but its terms, conditions and
    /// tests, in file-format order so that problems come in that order.
    fn rule_header(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        id: &str,
        fields: &Fields,
    ) -> Header {
        let revision = self.revision(file, rid, fields);
        let title = self
            .string(file, rid, fields.get("title"))
            .unwrap_or_else(|| id.to_string());
        let description = self
            .string(file, rid, fields.get("description"))
            .unwrap_or_default();
        let (category, severity, status) = self.classification(file, rid, node, fields);
        let tags = self.string_list(file, rid, fields.get("tags"));
        let languages = self.string_list(file, rid, fields.get("languages"));
        let references = self.string_list(file, rid, fields.get("references"));
        let owner = self.string(file, rid, fields.get("owner"));
        let review_by = self.review_by(file, rid, fields);
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
        let fallback = match fields.get("fallback") {
            None => false,
            Some((_, v)) => match v.as_scalar() {
                Some("true") if plain(v) => true,
                Some("false") if plain(v) => false,
                _ => {
                    self.error(file, v.mark, rid, "'fallback' is true | false".into());
                    false
                }
            },
        };
        Header {
            fallback,
            revision,
            title,
            description,
            category,
            severity,
            status,
            tags,
            languages,
            references,
            owner,
            review_by,
            fields: post_fields,
        }
    }

    /// `revision`, 1 when absent.
    fn revision(&mut self, file: &Path, rid: Option<&str>, fields: &Fields) -> u32 {
        match fields.get("revision") {
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
        }
    }

    /// `category`, `severity` and `status`, each with its default; a missing
    /// `status` is a warning.
    fn classification(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        fields: &Fields,
    ) -> (Category, Severity, Status) {
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
        (category, severity, status)
    }

    /// `review_by`: a date; one that has passed is a warning.
    fn review_by(&mut self, file: &Path, rid: Option<&str>, fields: &Fields) -> Option<time::Date> {
        let (_, v) = fields.get("review_by")?;
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
                        format!("review_by {d} has passed: review the rule and move the date"),
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

    /// `terms`: the good terms, and the names of those with an error (a
    /// condition may still name them).
    fn rule_terms(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        fields: &Fields,
    ) -> (Vec<Term>, Vec<String>) {
        let mut terms: Vec<Term> = Vec::new();
        let mut broken: Vec<String> = Vec::new();
        let Some((_, v)) = fields.get("terms") else {
            self.error(file, node.mark, rid, "a rule needs 'terms'".into());
            return (terms, broken);
        };
        let entries = match &v.value {
            Value::Map(entries) if !entries.is_empty() => entries,
            _ => {
                self.error(
                    file,
                    v.mark,
                    rid,
                    "'terms' must be a mapping of term names to definitions".into(),
                );
                return (terms, broken);
            }
        };
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
            let Some(name) = self.term_name(file, rid, k, &terms) else {
                continue;
            };
            match self.term(file, rid, name, k.mark, tv) {
                Some(t) => terms.push(t),
                None => broken.push(name.to_string()),
            }
        }
        (terms, broken)
    }

    /// A term's name, if it is one a condition can use and not taken.
    fn term_name<'a>(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        k: &'a Node,
        terms: &[Term],
    ) -> Option<&'a str> {
        let Some(name) = k.as_scalar() else {
            self.error(file, k.mark, rid, "a term name must be a word".into());
            return None;
        };
        let problem = if name.is_empty() || !name.chars().all(condition::is_name_char) {
            format!("term name '{name}' may hold only letters, digits, '_', '-' and '.'")
        } else if name.chars().all(|c| c.is_ascii_digit()) {
            format!("term name '{name}' must not be a number")
        } else if condition::RESERVED.contains(&name) {
            format!("'{name}' is a reserved word of conditions and cannot name a term")
        } else if terms.iter().any(|t| t.name == name) {
            format!("term '{name}' is defined twice")
        } else {
            return Some(name);
        };
        self.error(file, k.mark, rid, problem);
        None
    }

    /// A rule that runs should prove with its tests that it fires and that
    /// it stays quiet.
    fn warn_untested(
        &mut self,
        file: &Path,
        rid: Option<&str>,
        node: &Node,
        status: Status,
        tests: &RuleTests,
    ) {
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
    }
}

/// A rule's keys, each with its key node (for its place) and its value.
pub(super) type Fields<'a> = HashMap<&'a str, (&'a Node, &'a Node)>;

/// What a rule says about itself, apart from its terms, conditions and tests.
struct Header {
    revision: u32,
    title: String,
    description: String,
    category: Category,
    severity: Severity,
    status: Status,
    tags: Vec<String>,
    languages: Vec<String>,
    references: Vec<String>,
    owner: Option<String>,
    review_by: Option<time::Date>,
    fields: Option<Vec<String>>,
    fallback: bool,
}

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
    "fallback",
    "tests",
];

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}
