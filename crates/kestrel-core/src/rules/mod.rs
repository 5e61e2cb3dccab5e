//! Rule files in, a checked [`RuleSet`] out.
//!
//! The loader reads every `*.yaml`/`*.yml` file below a directory, rejects
//! unknown keys and every other mistake with `file:line:col` and the rule id,
//! and never returns a partial set: either every file is good, or the caller
//! gets the full list of problems.

pub mod condition;
mod load;
pub mod yaml;

use std::fmt;
use std::path::PathBuf;

pub use condition::Expr;
pub(crate) use load::regex_message;
pub use load::{
    hex_digest, load_dir, load_dir_with, load_str, load_str_with, RuleLimits, REGEX_DFA_SIZE_LIMIT,
    REGEX_SIZE_LIMIT,
};
pub use yaml::Mark;

use crate::indicators::IndicatorKind;

/// What kind of harm a rule looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Calls to join, travel, fight or pledge, with a way to be contacted.
    Recruitment,
    /// Appeals for money with a way to pay.
    Financing,
    /// Propaganda material.
    Propaganda,
    /// Threats of violence.
    Threat,
    /// Anything else.
    Other,
}

/// How urgent an alert of a rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// For information.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: act now.
    Critical,
}

/// Whether a rule runs and whether its alerts count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Alerts are published.
    Active,
    /// The rule runs; its alerts carry `"shadow": true`.
    Shadow,
    /// Loaded and checked, never run.
    Disabled,
}

macro_rules! named_enum {
    ($ty:ty { $($var:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$var),*];
            /// The name used in rule files and alerts.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$var => $name),* }
            }
            /// Parses the name used in rule files.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(<$ty>::$var),)* _ => None }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(Category { Recruitment = "recruitment", Financing = "financing", Propaganda = "propaganda", Threat = "threat", Other = "other" });
named_enum!(Severity { Info = "info", Low = "low", Medium = "medium", High = "high", Critical = "critical" });
named_enum!(Status { Active = "active", Shadow = "shadow", Disabled = "disabled" });

/// Which text a term is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The field exactly as posted.
    Raw,
    /// The field after folding (see [`crate::normalize`]).
    Folded,
}

impl View {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Raw => "raw",
            View::Folded => "folded",
        }
    }
}

/// What a term matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermKind {
    /// Whole words or phrases.
    Words(Vec<String>),
    /// Anywhere, no word boundaries.
    Substrings(Vec<String>),
    /// Regular expressions (Rust `regex` syntax).
    Regex(Vec<String>),
    /// Entries of a list file.
    List {
        /// The list file as resolved from the rule file.
        path: PathBuf,
        /// The entries, comments and blank lines removed.
        entries: Vec<String>,
    },
    /// Built-in validated detectors.
    Indicator(Vec<IndicatorKind>),
    /// Concepts of the lexicon files: the union of their entries.
    Lexicon(LexiconTerm),
    /// Weighted whole words and phrases of a weights file: the term holds
    /// when the weights of the distinct entries found add up to its
    /// `at_least`.
    Weights(WeightsTerm),
}

/// A `weights:` term: a score over whole words and phrases.
///
/// Weights and the threshold are kept in thousandths, so sums are exact and
/// the same on every machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsTerm {
    /// The weights file as resolved from the rule file.
    pub path: PathBuf,
    /// The entries (whole words and phrases), in file order.
    pub entries: Vec<String>,
    /// The weight of each entry, in thousandths.
    pub weights: Vec<i32>,
    /// The score the term needs to hold, in thousandths (above zero).
    pub at_least: i32,
}

/// A weight or score in thousandths, written as a decimal (`-1.25`).
pub fn milli_display(v: i32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let frac = format!("{:03}", a % 1000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", a / 1000)
    } else {
        format!("{sign}{}.{frac}", a / 1000)
    }
}

/// Parses a decimal with at most three places into thousandths; `None` for
/// anything else (exponents, more places, out of range).
pub fn parse_milli(s: &str) -> Option<i32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
        || int.len() > 6
    {
        return None;
    }
    let whole: i32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: i32 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        f *= 10;
    }
    let v = whole * 1000 + f;
    Some(if neg { -v } else { v })
}

/// A term that names lexicon concepts (`lexicon: [call_join]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexiconTerm {
    /// The concepts named, as written.
    pub concepts: Vec<String>,
    /// The term's `languages:`; empty means every language.
    pub languages: Vec<String>,
    /// Every (concept, language) entry the term takes, in lexicon order.
    pub parts: Vec<LexiconPart>,
}

/// One concept of one language's lexicon, as a term uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexiconPart {
    /// The concept's name.
    pub concept: String,
    /// The lexicon's language.
    pub language: String,
    /// The lexicon file.
    pub file: PathBuf,
    /// Whole words and phrases.
    pub words: Vec<String>,
    /// Anywhere, no word boundaries.
    pub substrings: Vec<String>,
    /// Regular expressions.
    pub regex: Vec<String>,
    /// Entries of the concept's list file (whole words).
    pub list: Vec<String>,
}

impl LexiconTerm {
    /// The entries of every part, each once: (words, substrings, regex, list).
    pub fn union(&self) -> [Vec<String>; 4] {
        let mut out: [Vec<String>; 4] = Default::default();
        let mut seen: [std::collections::HashSet<&str>; 4] = Default::default();
        for p in &self.parts {
            for (i, list) in [&p.words, &p.substrings, &p.regex, &p.list]
                .into_iter()
                .enumerate()
            {
                for e in list {
                    if seen[i].insert(e) {
                        out[i].push(e.clone());
                    }
                }
            }
        }
        out
    }
}

impl TermKind {
    /// The key that introduced the term in the rule file.
    pub fn key(&self) -> &'static str {
        match self {
            TermKind::Words(_) => "words",
            TermKind::Substrings(_) => "substrings",
            TermKind::Regex(_) => "regex",
            TermKind::List { .. } => "list",
            TermKind::Indicator(_) => "indicator",
            TermKind::Lexicon(_) => "lexicon",
            TermKind::Weights(_) => "weights",
        }
    }
}

/// A named term of a rule.
#[derive(Clone, Debug)]
pub struct Term {
    /// The name used in conditions and evidence.
    pub name: String,
    /// What it matches.
    pub kind: TermKind,
    /// Which text it is matched against.
    pub view: View,
    /// The term holds only with at least this many matches.
    pub min_count: u32,
    /// Matches must start and end at word boundaries.
    pub whole_word: bool,
    /// Indicator terms: whether addresses written in pieces, whole ones or
    /// both count (`written:`); [`Written::Any`] for every other term.
    pub written: Written,
    /// Where the term is defined.
    pub mark: Mark,
}

/// An indicator term's `written:` key: which addresses count by how they
/// were written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Written {
    /// Every address, in one run or in pieces (the default).
    #[default]
    Any,
    /// Only addresses written in pieces (note `split` / `split_…`).
    Split,
    /// Only addresses written in one run.
    Whole,
}

impl Written {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Written::Any => "any",
            Written::Split => "split",
            Written::Whole => "whole",
        }
    }

    /// Whether an indicator match with this note counts.
    pub fn admits(self, note: Option<&str>) -> bool {
        match self {
            Written::Any => true,
            Written::Split => crate::indicators::is_split_note(note),
            Written::Whole => !crate::indicators::is_split_note(note),
        }
    }
}

/// A post written inside a rule file as a test case.
#[derive(Clone, Debug)]
pub struct TestPost {
    /// Field name and text. A plain string test has one field named `None`,
    /// meaning "the first configured text field".
    pub fields: Vec<(Option<String>, String)>,
    /// `expect_severity:` of a `match` case: the alert's effective severity.
    pub expect_severity: Option<Severity>,
    /// Where the case is written.
    pub mark: Mark,
}

/// A rule's own tests.
#[derive(Clone, Debug, Default)]
pub struct RuleTests {
    /// Posts that must raise an alert.
    pub must_match: Vec<TestPost>,
    /// Posts that must not.
    pub no_match: Vec<TestPost>,
}

/// One checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique id across the rule set.
    pub id: String,
    /// Bumped on every change; carried in alerts.
    pub revision: u32,
    /// Short title.
    pub title: String,
    /// What the signal is and why it matters.
    pub description: String,
    /// Category.
    pub category: Category,
    /// Severity.
    pub severity: Severity,
    /// Active, shadow or disabled.
    pub status: Status,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Languages the rule is written for (informational).
    pub languages: Vec<String>,
    /// Who answers for the rule.
    pub owner: Option<String>,
    /// Date by which the rule must be reviewed, `YYYY-MM-DD`.
    pub review_by: Option<time::Date>,
    /// Public typologies the rule is based on.
    pub references: Vec<String>,
    /// Post fields to scan; `None` means every text field.
    pub fields: Option<Vec<String>>,
    /// The terms, in file order.
    pub terms: Vec<Term>,
    /// When the rule fires.
    pub condition: Expr,
    /// When a firing rule is suppressed.
    pub unless: Option<Expr>,
    /// Grades: a firing rule takes the highest severity whose `when` holds.
    pub escalate: Vec<Escalation>,
    /// `fallback: true`: the rule alerts only on posts no other active rule
    /// of its category alerts on; where one does, its firing is kept apart
    /// as superseded (see [`crate::engine::Matches::superseded`]).
    pub fallback: bool,
    /// The source text of the condition, for explanations.
    pub condition_src: String,
    /// The source text of `unless`.
    pub unless_src: Option<String>,
    /// Test cases.
    pub tests: RuleTests,
    /// The file the rule is in.
    pub file: PathBuf,
    /// Where the rule starts in that file.
    pub mark: Mark,
}

/// One `escalate:` entry: a severity that holds when `when` does.
#[derive(Clone, Debug)]
pub struct Escalation {
    /// The condition, same grammar as `condition`.
    pub when: Expr,
    /// Its source text, carried in alerts as `escalated_by`.
    pub when_src: String,
    /// The severity it raises a firing rule to.
    pub severity: Severity,
    /// Where the entry is written.
    pub mark: Mark,
}

impl Rule {
    /// The rule's term names, indexed like [`Rule::terms`].
    pub fn term_names(&self) -> Vec<String> {
        self.terms.iter().map(|t| t.name.clone()).collect()
    }

    /// Calls `f` on every expression of the condition, then of `unless`
    /// (see [`Expr::visit`]).
    pub fn visit_conditions(&self, f: &mut impl FnMut(&Expr)) {
        self.condition.visit(f);
        if let Some(u) = &self.unless {
            u.visit(f);
        }
    }
}

/// A loaded, checked set of rules and the hash that identifies it.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// Rules in load order (files sorted by path, rules in file order).
    pub rules: Vec<Rule>,
    /// `sha256:` and the hex digest of every loaded file's path and bytes.
    pub hash: String,
    /// The files that were read, rule files and lists.
    pub files: Vec<PathBuf>,
}

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The set cannot be loaded.
    Error,
    /// The set loads, but something needs a person's attention.
    Warning,
}

/// One thing wrong with a rule file, with its place.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Error or warning.
    pub level: Level,
    /// The file.
    pub file: PathBuf,
    /// Line and column.
    pub mark: Mark,
    /// The rule id, where one is known.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: ",
            self.file.display(),
            self.mark.line,
            self.mark.col
        )?;
        if let Some(id) = &self.rule {
            write!(f, "rule '{id}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// A rule set that could not be loaded: every error found, and the warnings.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    /// Errors and warnings, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<&Problem> = self
            .problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .collect();
        write!(f, "the rule set has {} error(s)", errors.len())?;
        for p in errors {
            write!(f, "\n{p}")?;
        }
        Ok(())
    }
}

/// A rule set that loaded, with warnings that do not stop it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The rules.
    pub set: RuleSet,
    /// Warnings (past review dates, rules without tests, …).
    pub warnings: Vec<Problem>,
}
