//! `kestrel eval`: a rule pack judged on labelled posts.
//!
//! Each post carries the category a reader expects (`label`: a category, or
//! `none` for a post that must raise nothing) and optionally its language
//! (`lang`) and what kind of post it is (`kind`: obfuscated, news, …). The
//! posts go through the same engine as `scan`, and every miss and false alarm
//! is explained with the same code as `explain`. Recall, precision and false
//! alarms come out per category, per rule, per language and per kind, and
//! floors (`recall:financing=0.85`) turn the figures into a pass or a fail.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::{Engine, Matches};
use crate::explain::{alarm_line, miss_line};
use crate::post::PostSchema;
use crate::rules::{Category, RuleSet, Status};

/// What a labelled file or a floor got wrong.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a labelled post.
    #[error("{file}:{line}: {message}")]
    Post {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file has no post.
    #[error("{0}: no labelled posts")]
    Empty(PathBuf),
}

/// A floor that is not `recall:CATEGORY[:LANG]=X`, `precision:CATEGORY=X`
/// or `false-alarm[:LANG]=X`.
#[derive(Debug, thiserror::Error)]
#[error("--floor {given:?}: {message}")]
pub struct FloorError {
    given: String,
    message: String,
}

/// A figure a run must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Floor {
    /// As written.
    pub text: String,
    what: FloorKind,
    /// The bound: a minimum for recall and precision, a maximum for false alarms.
    pub bound: f64,
}

#[derive(Clone, Debug, PartialEq)]
enum FloorKind {
    Recall(Category, Option<String>),
    Precision(Category),
    FalseAlarm(Option<String>),
}

impl Floor {
    /// Parses `recall:CATEGORY=0.85`, `recall:CATEGORY:LANG=0.85`,
    /// `precision:CATEGORY=0.9`, `false-alarm=0.05` or `false-alarm:LANG=0.05`.
    pub fn parse(s: &str) -> Result<Floor, FloorError> {
        let err = |message: &str| FloorError {
            given: s.to_string(),
            message: message.to_string(),
        };
        let (what, value) = s
            .split_once('=')
            .ok_or_else(|| err("expected WHAT=VALUE, e.g. recall:financing=0.85"))?;
        let bound: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..=1.0).contains(v))
            .ok_or_else(|| err("the value is a fraction from 0 to 1, e.g. 0.85"))?;
        let parts: Vec<&str> = what.trim().split(':').collect();
        let category = |name: &str| {
            Category::parse(name).ok_or_else(|| {
                err(&format!(
                    "unknown category '{name}' (known: {})",
                    Category::ALL
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        };
        let what = match parts.as_slice() {
            ["recall", c] => FloorKind::Recall(category(c)?, None),
            ["recall", c, lang] => FloorKind::Recall(category(c)?, Some(lang.to_string())),
            ["precision", c] => FloorKind::Precision(category(c)?),
            ["false-alarm"] => FloorKind::FalseAlarm(None),
            ["false-alarm", lang] => FloorKind::FalseAlarm(Some(lang.to_string())),
            _ => return Err(err(
                "expected recall:CATEGORY, recall:CATEGORY:LANG, precision:CATEGORY, false-alarm or false-alarm:LANG",
            )),
        };
        Ok(Floor {
            text: s.to_string(),
            what,
            bound,
        })
    }
}

/// A post's expected outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// An alert of this category must fire.
    Category(Category),
    /// No alert may fire.
    None,
}

/// How a run is judged.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Only active alerts count (shadow figures are still shown).
    pub active_only: bool,
    /// Floors to check.
    pub floors: Vec<Floor>,
}

/// Found / total, with both figures: every alert, and active alerts only.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Tally {
    /// Posts counted.
    pub total: u64,
    /// Of them, found (or flagged) by an active or shadow alert.
    pub all: u64,
    /// Of them, found (or flagged) by an active alert.
    pub active: u64,
}

impl Tally {
    fn add(&mut self, all: bool, active: bool) {
        self.total += 1;
        self.all += u64::from(all);
        self.active += u64::from(active);
    }

    /// The judged fraction, `None` with nothing counted.
    pub fn rate(&self, active_only: bool) -> Option<f64> {
        let n = if active_only { self.active } else { self.all };
        (self.total > 0).then(|| n as f64 / self.total as f64)
    }
}

/// Figures of one category.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CategoryFigures {
    /// Posts labelled with the category, and how many an alert of it found.
    pub recall: Tally,
    /// Posts with an alert of the category (total: every alert; all/active:
    /// of those, labelled with it), for precision.
    pub precision_all: Tally,
    /// Same, counting active alerts only.
    pub precision_active: Tally,
}

/// Figures of one language or kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GroupFigures {
    /// Recall per category.
    pub recall: BTreeMap<String, Tally>,
    /// Posts labelled none, and how many raised an alert.
    pub false_alarms: Tally,
}

/// Figures of one rule.
#[derive(Clone, Debug, Serialize)]
pub struct RuleFigures {
    /// The rule id.
    pub id: String,
    /// Its category.
    pub category: String,
    /// active or shadow.
    pub status: String,
    /// Posts it alerted on.
    pub alerts: u64,
    /// Of them, posts labelled with its category.
    pub true_positives: u64,
    /// Of them, posts labelled none.
    pub false_alarms: u64,
    /// Of the posts labelled with its category, the share it found.
    pub recall: Option<f64>,
    /// true_positives / alerts.
    pub precision: Option<f64>,
}

/// A miss or a false alarm, with why.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// The post id.
    pub id: String,
    /// Its line in the file.
    pub line: u64,
    /// Its label.
    pub label: String,
    /// Its language, when given.
    pub lang: Option<String>,
    /// Its kind, when given.
    pub kind: Option<String>,
    /// The explanation, on one line.
    pub explain: String,
}

/// A floor and whether it held.
#[derive(Clone, Debug, Serialize)]
pub struct FloorResult {
    /// As written.
    pub floor: String,
    /// The measured figure; `None` when nothing was measured (a failure).
    pub value: Option<f64>,
    /// Held.
    pub passed: bool,
}

/// The outcome of `kestrel eval`.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// The labelled file.
    pub file: String,
    /// The rule set's hash.
    pub ruleset: String,
    /// `all` (active and shadow alerts count) or `active`.
    pub judged_on: &'static str,
    /// Posts read.
    pub posts: u64,
    /// Per category.
    pub categories: BTreeMap<String, CategoryFigures>,
    /// Posts labelled none, and how many raised an alert.
    pub false_alarms: Tally,
    /// Per language (`?` for posts without `lang`).
    pub languages: BTreeMap<String, GroupFigures>,
    /// Per kind (`?` for posts without `kind`).
    pub kinds: BTreeMap<String, GroupFigures>,
    /// Per rule, in rule-set order.
    pub rules: Vec<RuleFigures>,
    /// Labelled posts that no alert of their category found.
    pub misses: Vec<Case>,
    /// Posts labelled none that raised an alert.
    pub false_alarm_posts: Vec<Case>,
    /// Every floor asked for.
    pub floors: Vec<FloorResult>,
}

impl EvalReport {
    /// Every floor held.
    pub fn passed(&self) -> bool {
        self.floors.iter().all(|f| f.passed)
    }

    /// The floors that failed, as written.
    pub fn failed_floors(&self) -> Vec<&str> {
        self.floors
            .iter()
            .filter(|f| !f.passed)
            .map(|f| f.floor.as_str())
            .collect()
    }
}

struct Labeled {
    line: u64,
    id: String,
    label: Label,
    lang: Option<String>,
    kind: Option<String>,
    fields: Vec<(String, String)>,
}

fn read(file: &Path, schema: &PostSchema) -> Result<Vec<Labeled>, EvalError> {
    let read_err = |source| EvalError::Read {
        file: file.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(file).map_err(read_err)?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(read_err)?;
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Post {
            file: file.to_path_buf(),
            line: line_no,
            message,
        };
        let post = schema
            .parse(line.as_bytes())
            .map_err(|e| bad(format!("bad post: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("bad post: {e}")))?;
        let member = |name: &str| -> Result<Option<String>, EvalError> {
            match value.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("'{name}' must be a string"))),
            }
        };
        let label = match member("label")? {
            None => return Err(bad("no 'label' (a category, or \"none\")".into())),
            Some(l) if l == "none" => Label::None,
            Some(l) => match Category::parse(&l) {
                Some(c) => Label::Category(c),
                None => {
                    return Err(bad(format!(
                        "label '{l}' is none or one of {}",
                        Category::ALL
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            },
        };
        out.push(Labeled {
            line: line_no,
            id: post.id.to_string(),
            label,
            lang: member("lang")?,
            kind: member("kind")?,
            fields: post
                .fields
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        });
    }
    if out.is_empty() {
        return Err(EvalError::Empty(file.to_path_buf()));
    }
    Ok(out)
}

fn label_name(l: Label) -> &'static str {
    match l {
        Label::Category(c) => c.as_str(),
        Label::None => "none",
    }
}

/// Reads `file`, scans every post with `engine` and measures the result.
pub fn evaluate(
    engine: &Engine,
    schema: &PostSchema,
    file: &Path,
    options: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let posts = read(file, schema)?;
    let set = engine.rule_set().clone();
    let active_only = options.active_only;
    let mut report = EvalReport {
        file: file.display().to_string(),
        ruleset: engine.ruleset_hash().to_string(),
        judged_on: if active_only { "active" } else { "all" },
        posts: posts.len() as u64,
        categories: BTreeMap::new(),
        false_alarms: Tally::default(),
        languages: BTreeMap::new(),
        kinds: BTreeMap::new(),
        rules: Vec::new(),
        misses: Vec::new(),
        false_alarm_posts: Vec::new(),
        floors: Vec::new(),
    };
    // Per rule: alerts, true positives, false alarms.
    let mut per_rule = vec![(0u64, 0u64, 0u64); set.rules.len()];
    let mut positives: BTreeMap<Category, u64> = BTreeMap::new();
    let mut scratch = engine.new_scratch();
    let mut matches = Matches::default();
    for p in &posts {
        let fields: Vec<(&str, &str)> = p
            .fields
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        engine.scan(&fields, &mut scratch, &mut matches);
        let scanned = Scanned {
            post: p,
            set: &set,
            matches: &matches,
        };
        for f in &matches.firings {
            let r = &mut per_rule[f.rule];
            r.0 += 1;
            match p.label {
                Label::Category(c) if c == set.rules[f.rule].category => r.1 += 1,
                Label::None => r.2 += 1,
                _ => {}
            }
        }
        report.add_precision(&scanned);
        match p.label {
            Label::Category(c) => {
                *positives.entry(c).or_default() += 1;
                if !report.add_recall(&scanned, c, active_only) {
                    let line = miss_line(engine, &mut scratch, &fields, &matches, c, active_only);
                    report.misses.push(scanned.case(line));
                }
            }
            Label::None => {
                if report.add_false_alarm(&scanned, active_only) {
                    let line = alarm_line(engine, &fields, &matches, active_only);
                    report.false_alarm_posts.push(scanned.case(line));
                }
            }
        }
    }
    report.rules = rule_figures(&set, &per_rule, &positives);
    report.floors = options
        .floors
        .iter()
        .map(|floor| report.floor_result(floor, active_only))
        .collect();
    Ok(report)
}

/// A labelled post and what the engine found in it.
struct Scanned<'a> {
    post: &'a Labeled,
    set: &'a RuleSet,
    matches: &'a Matches,
}

impl Scanned<'_> {
    /// A rule of category `c` (any category with `None`) fired; with
    /// `active`, an active one.
    fn fired(&self, c: Option<Category>, active: bool) -> bool {
        self.matches.firings.iter().any(|f| {
            (!active || !f.shadow) && c.is_none_or(|c| self.set.rules[f.rule].category == c)
        })
    }

    /// The post as a miss or a false alarm, with why.
    fn case(&self, explain: String) -> Case {
        let p = self.post;
        Case {
            id: p.id.clone(),
            line: p.line,
            label: label_name(p.label).to_string(),
            lang: p.lang.clone(),
            kind: p.kind.clone(),
            explain,
        }
    }

    /// The post's language and kind, `?` when not given.
    fn groups(&self) -> (String, String) {
        let lang = self.post.lang.clone().unwrap_or_else(|| "?".into());
        let kind = self.post.kind.clone().unwrap_or_else(|| "?".into());
        (lang, kind)
    }
}

impl EvalReport {
    /// Precision: every category that alerted on the post.
    fn add_precision(&mut self, s: &Scanned) {
        for c in Category::ALL {
            let (all, active) = (s.fired(Some(*c), false), s.fired(Some(*c), true));
            if all || active {
                let fig = self.categories.entry(c.to_string()).or_default();
                let right = s.post.label == Label::Category(*c);
                if all {
                    fig.precision_all.add(right, right);
                }
                if active {
                    fig.precision_active.add(right, right);
                }
            }
        }
    }

    /// Recall of a post labelled `c`, overall and by language and kind;
    /// true when an alert that counts found it.
    fn add_recall(&mut self, s: &Scanned, c: Category, active_only: bool) -> bool {
        let (all, active) = (s.fired(Some(c), false), s.fired(Some(c), true));
        self.categories
            .entry(c.to_string())
            .or_default()
            .recall
            .add(all, active);
        let (lang, kind) = s.groups();
        for group in [
            self.languages.entry(lang).or_default(),
            self.kinds.entry(kind).or_default(),
        ] {
            group
                .recall
                .entry(c.to_string())
                .or_default()
                .add(all, active);
        }
        if active_only {
            active
        } else {
            all
        }
    }

    /// A post labelled none, overall and by language and kind; true when
    /// an alert that counts flagged it.
    fn add_false_alarm(&mut self, s: &Scanned, active_only: bool) -> bool {
        let (all, active) = (s.fired(None, false), s.fired(None, true));
        self.false_alarms.add(all, active);
        let (lang, kind) = s.groups();
        for group in [
            self.languages.entry(lang).or_default(),
            self.kinds.entry(kind).or_default(),
        ] {
            group.false_alarms.add(all, active);
        }
        if active_only {
            active
        } else {
            all
        }
    }

    /// Whether `floor` held, with the figure measured.
    fn floor_result(&self, floor: &Floor, active_only: bool) -> FloorResult {
        let (value, passed) = match &floor.what {
            FloorKind::Recall(c, lang) => {
                let tally = match lang {
                    None => self.categories.get(c.as_str()).map(|f| f.recall),
                    Some(l) => self
                        .languages
                        .get(l)
                        .and_then(|g| g.recall.get(c.as_str()))
                        .copied(),
                };
                let v = tally.and_then(|t| t.rate(active_only));
                (v, v.is_some_and(|v| v >= floor.bound))
            }
            FloorKind::Precision(c) => {
                let v = self.categories.get(c.as_str()).and_then(|f| {
                    let t = if active_only {
                        f.precision_active
                    } else {
                        f.precision_all
                    };
                    t.rate(active_only)
                });
                (v, v.is_some_and(|v| v >= floor.bound))
            }
            FloorKind::FalseAlarm(lang) => {
                let tally = match lang {
                    None => Some(self.false_alarms),
                    Some(l) => self.languages.get(l).map(|g| g.false_alarms),
                };
                let v = tally.and_then(|t| t.rate(active_only));
                (v, v.is_some_and(|v| v <= floor.bound))
            }
        };
        FloorResult {
            floor: floor.text.clone(),
            value,
            passed,
        }
    }
}

/// Figures of every rule that runs, from its (alerts, true positives, false
/// alarms) and the posts labelled with each category.
fn rule_figures(
    set: &RuleSet,
    per_rule: &[(u64, u64, u64)],
    positives: &BTreeMap<Category, u64>,
) -> Vec<RuleFigures> {
    let mut out = Vec::new();
    for (i, rule) in set.rules.iter().enumerate() {
        if rule.status == Status::Disabled {
            continue;
        }
        let (alerts, tp, fa) = per_rule[i];
        let pos = positives.get(&rule.category).copied().unwrap_or(0);
        out.push(RuleFigures {
            id: rule.id.clone(),
            category: rule.category.to_string(),
            status: rule.status.to_string(),
            alerts,
            true_positives: tp,
            false_alarms: fa,
            recall: (pos > 0).then(|| tp as f64 / pos as f64),
            precision: (alerts > 0).then(|| tp as f64 / alerts as f64),
        });
    }
    out
}

fn pct(t: &Tally, active_only: bool) -> String {
    match t.rate(active_only) {
        None => "-".to_string(),
        Some(r) => format!(
            "{:.1}% ({}/{})",
            r * 100.0,
            if active_only { t.active } else { t.all },
            t.total
        ),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

impl EvalReport {
    /// The report for people.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let judged = if self.judged_on == "active" {
            "active alerts only"
        } else {
            "active and shadow alerts"
        };
        let _ = writeln!(
            s,
            "kestrel eval: {} posts from {}; ruleset {}; judged on {judged}\n",
            self.posts, self.file, self.ruleset
        );
        let _ = writeln!(
            s,
            "{:<14} {:>22} {:>22} {:>22} {:>22}",
            "category", "recall (all)", "recall (active)", "precision (all)", "precision (active)"
        );
        for (c, f) in &self.categories {
            let _ = writeln!(
                s,
                "{:<14} {:>22} {:>22} {:>22} {:>22}",
                c,
                pct(&f.recall, false),
                pct(&f.recall, true),
                pct(&f.precision_all, false),
                pct(&f.precision_active, true)
            );
        }
        let _ = writeln!(
            s,
            "{:<14} {:>22} {:>22}   (posts labelled none that raised an alert)",
            "false alarms",
            pct(&self.false_alarms, false),
            pct(&self.false_alarms, true)
        );
        for (title, groups) in [("language", &self.languages), ("kind", &self.kinds)] {
            let mut cats: Vec<&String> = groups.values().flat_map(|g| g.recall.keys()).collect();
            cats.sort();
            cats.dedup();
            let width = groups
                .keys()
                .map(|k| k.len())
                .max()
                .unwrap_or(0)
                .max(title.len());
            let _ = write!(s, "\n{title:<width$}");
            for c in &cats {
                let _ = write!(s, "  {:>24}", format!("{c} found (active)"));
            }
            let _ = writeln!(s, "  {:>24}", "false alarms (active)");
            for (name, g) in groups.iter() {
                let _ = write!(s, "{name:<width$}");
                for c in &cats {
                    let cell = g.recall.get(*c).map_or("-".to_string(), cell);
                    let _ = write!(s, "  {cell:>24}");
                }
                let _ = writeln!(s, "  {:>24}", cell(&g.false_alarms));
            }
        }
        let _ = writeln!(s, "\nrules");
        let width = self.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
        for r in &self.rules {
            let _ = writeln!(
                s,
                "  {:<width$} {:<12} {:<7} alerts {:>4}  true {:>4}  false alarms {:>3}  recall {:>6}  precision {:>6}",
                r.id,
                r.category,
                r.status,
                r.alerts,
                r.true_positives,
                r.false_alarms,
                ratio(r.recall),
                ratio(r.precision)
            );
        }
        for (title, cases) in [
            ("misses", &self.misses),
            ("false alarms", &self.false_alarm_posts),
        ] {
            let _ = writeln!(s, "\n{title} ({})", cases.len());
            for c in cases {
                let _ = writeln!(
                    s,
                    "  line {} id {} label {} lang {} kind {}: {}",
                    c.line,
                    c.id,
                    c.label,
                    c.lang.as_deref().unwrap_or("?"),
                    c.kind.as_deref().unwrap_or("?"),
                    c.explain
                );
            }
        }
        if !self.floors.is_empty() {
            let _ = writeln!(s, "\nfloors");
            for f in &self.floors {
                let _ = writeln!(
                    s,
                    "  {} {} (measured {})",
                    if f.passed { "PASS" } else { "FAIL" },
                    f.floor,
                    f.value
                        .map_or("nothing: no such posts".to_string(), |v| format!("{v:.4}"))
                );
            }
        }
        s
    }
}

/// `found/total (active)`, or `-` when nothing was counted.
fn cell(t: &Tally) -> String {
    if t.total == 0 {
        return "-".into();
    }
    format!("{}/{} ({})", t.all, t.total, t.active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_parse_and_reject_what_they_cannot_judge() {
        let f = Floor::parse("recall:financing:fr=0.85").unwrap();
        assert_eq!(
            f.what,
            FloorKind::Recall(Category::Financing, Some("fr".into()))
        );
        assert_eq!(f.bound, 0.85);
        assert_eq!(
            Floor::parse("false-alarm=0.05").unwrap().what,
            FloorKind::FalseAlarm(None)
        );
        for bad in [
            "recall:money=0.8",
            "recall:financing",
            "recall:financing=85",
            "speed=1",
        ] {
            assert!(Floor::parse(bad).is_err(), "{bad}");
        }
    }
}
