//! One rule of a rule file: its id, header fields and terms.

use std::collections::HashMap;
use std::path::Path;

use super::conditions::offset_mark;
use super::{plain, suggest, Ctx};
use crate::rules::condition::{self, Parsed};
use crate::rules::yaml::{Node, Value};
use crate::rules::{Category, Escalation, Rule, RuleTests, Severity, Status, Term};

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
    "tests",
];

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}
