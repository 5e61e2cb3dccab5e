//! The bad rule catalogue: every way a rule file can be wrong gives an error
//! that names file:line:col, through `kestrel rules check`, and a running
//! service that meets the same file on reload keeps the set it serves.
//!
//! Cases already tested elsewhere are not repeated here; docs/testing.md
//! lists where each case of the catalogue is tested.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use kestrel::config::Config;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::flood::FloodGuardConfig;
use kestrel::reload::{Cause, Outcome, ServingRules};
use kestrel_testkit::{kestrel, run, write_files};

/// A good rule file: what the service serves before a bad file arrives.
const GOOD: &str = r#"rules:
  - id: t.donate
    title: Donation
    description: Asks for money.
    category: financing
    severity: high
    terms:
      appeal: { words: [donate] }
    tests:
      match: ["donate"]
"#;

/// One rule, with `terms` and `condition` as given.
fn rule(id: &str, terms: &str, condition: &str) -> String {
    format!(
        "rules:\n  - id: {id}\n    title: T\n    description: D.\n    category: other\n    severity: low\n    terms:\n{terms}    condition: {condition}\n"
    )
}

/// A case: the files it adds beside `r.yaml`, the `[rules.limits]` it runs
/// with, and what must be in the error (with its place, relative to the
/// rule directory).
struct Case {
    files: Vec<(&'static str, String)>,
    limits: &'static str,
    want: &'static str,
}

/// `kestrel rules check` on the case: it fails and names the place.
fn check_fails(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_files(&rules, &case.files);
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, format!("[rules.limits]\n{}\n", case.limits)).unwrap();
    let out = kestrel()
        .args(["rules", "check", "--config"])
        .arg(&cfg)
        .arg(&rules)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!("{}/{}", rules.display(), case.want);
    assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
}

fn limits(toml: &str) -> kestrel::rules::RuleLimits {
    Config::from_toml(
        &format!("[rules.limits]\n{toml}\n"),
        Path::new("k.toml"),
        Vec::new(),
    )
    .unwrap()
    .rules
    .limits
}

/// A service serving `GOOD` meets the case's files on reload: the reload
/// fails with the placed error and the set served is the same.
fn reload_keeps_the_old_set(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("r.yaml", GOOD.to_string())]);
    let options = EngineOptions {
        limits: limits(case.limits),
        ..EngineOptions::default()
    };
    let loaded = kestrel::rules::load_dir_with(dir.path(), &options.limits).unwrap();
    let engine = Engine::build(Arc::new(loaded.set), &options).unwrap();
    let serving = ServingRules::new(engine, dir.path(), options, FloodGuardConfig::default());
    let before = serving.current().ruleset_hash().to_string();
    write_files(dir.path(), &case.files);
    match serving.reload(Cause::Request) {
        Outcome::Failed { problems } => {
            let want = format!("{}/{}", dir.path().display(), case.want);
            assert!(
                problems.iter().any(|p| p.contains(&want)),
                "missing {want:?} in {problems:?}"
            );
        }
        other => panic!("the bad file was taken: {other:?}"),
    }
    assert_eq!(serving.current().ruleset_hash(), before);
    assert_eq!(serving.current().rule_set().rules.len(), 1);
    assert_eq!(serving.history().error, 1);
}

fn yaml_syntax_error() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            "rules:\n  - id: r\n    terms: {a: {words: [x]}\n    condition: a\n".into(),
        )],
        limits: "",
        want: "bad.yaml:4:",
    }
}

fn yaml_tab_indentation() -> Case {
    Case {
        files: vec![("bad.yaml", "rules:\n\t- id: r\n".into())],
        limits: "",
        want: "bad.yaml:2:",
    }
}

fn unknown_rule_key() -> Case {
    let mut text = rule("r.one", "      a: { words: [x] }\n", "a");
    text.push_str("    severty: high\n");
    Case {
        files: vec![("bad.yaml", text)],
        limits: "",
        want:
            "bad.yaml:10:5: error: rule 'r.one': unknown key 'severty' (did you mean 'severity'?)",
    }
}

fn bad_regex() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { regex: 'donat[e' }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:19: error: rule 'r.one': term 'a': regex 'donat[e': unclosed character class",
    }
}

/// Too large to compile within `regex_size_limit`: placed, not a crash or
/// a gigabyte of memory.
fn regex_over_the_compiled_size_limit() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { regex: '(\\w{50}){50}x' }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:19: error: rule 'r.one': term 'a': regex '(\\w{50}){50}x': ",
    }
}

fn regex_over_a_configured_size_limit() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { regex: 'donate \\w{20}' }\n", "a"),
        )],
        limits: "regex_size_limit = 1000",
        want: "bad.yaml:8:19: error: rule 'r.one': term 'a': regex 'donate \\w{20}': ",
    }
}

fn empty_regex_alternative_matches_everything() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { regex: 'donate|' }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:19: error: rule 'r.one': term 'a': regex 'donate|' matches the empty string, so it would match every post",
    }
}

fn empty_word_matches_everything() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { words: [donate, ''] }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:28: error: rule 'r.one': term 'a': entry '' folds to nothing",
    }
}

fn list_that_does_not_exist() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { list: lists/nope.txt }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:18: error: rule 'r.one': term 'a': cannot read list ",
    }
}

fn list_over_the_entry_limit() -> Case {
    Case {
        files: vec![
            ("bad.yaml", rule("r.one", "      a: { list: big.txt }\n", "a")),
            ("big.txt", "# names\nalpha\nbravo\n\ncharlie\ndelta\n".into()),
        ],
        limits: "max_list_entries = 3",
        want: "big.txt:6:1: error: rule 'r.one': term 'a': more than 3 entries in one list (rules.limits.max_list_entries)",
    }
}

fn pattern_over_the_length_limit() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { words: [donate, abcdefghijklmnop] }\n", "a"),
        )],
        limits: "max_pattern_bytes = 10",
        want: "bad.yaml:8:28: error: rule 'r.one': term 'a': entry 'abcdefghijklmnop' is 16 bytes long, over rules.limits.max_pattern_bytes (10)",
    }
}

fn regex_over_the_pattern_length_limit() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { regex: 'donate (now|today)' }\n", "a"),
        )],
        limits: "max_pattern_bytes = 10",
        want: "bad.yaml:8:19: error: rule 'r.one': term 'a': a regex of 18 bytes is over rules.limits.max_pattern_bytes (10)",
    }
}

fn too_many_terms_in_a_rule() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule(
                "r.one",
                "      a: { words: [x] }\n      b: { words: [y] }\n      c: { words: [z] }\n",
                "a or b or c",
            ),
        )],
        limits: "max_terms_per_rule = 2",
        want: "bad.yaml:10:7: error: rule 'r.one': more than 2 terms in one rule (rules.limits.max_terms_per_rule)",
    }
}

fn too_many_rules() -> Case {
    let mut text = rule("r.one", "      a: { words: [x] }\n", "a");
    text.push_str(&rule("r.two", "      a: { words: [y] }\n", "a").replace("rules:\n", ""));
    Case {
        files: vec![("bad.yaml", text)],
        limits: "max_rules = 2",
        // Files load in name order: r.yaml's rule is the third.
        want: "r.yaml:2:7: error: more than 2 rules in the set (rules.limits.max_rules)",
    }
}

/// `written:` keeps addresses by how they were written: an indicator
/// term's key only.
fn written_on_a_words_term() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule("r.one", "      a: { words: [donate], written: split }\n", "a"),
        )],
        limits: "",
        want: "bad.yaml:8:38: error: rule 'r.one': term 'a': 'written' applies to indicator terms only; this term has 'words'",
    }
}

/// An IBAN is never written in pieces: `written: split` on it is placed at
/// the kind.
fn written_split_on_a_kind_never_split() -> Case {
    Case {
        files: vec![(
            "bad.yaml",
            rule(
                "r.one",
                "      a: { indicator: [btc, iban], written: split }\n",
                "a",
            ),
        )],
        limits: "",
        want: "bad.yaml:8:29: error: rule 'r.one': term 'a': 'written: split' needs kinds that can be written in pieces",
    }
}

macro_rules! catalogue {
    ($($case:ident),* $(,)?) => {
        mod rules_check {
            $(
                #[test]
                fn $case() {
                    super::check_fails(&super::with_good(super::$case()));
                }
            )*
        }
        mod hot_reload {
            $(
                #[test]
                fn $case() {
                    super::reload_keeps_the_old_set(&super::$case());
                }
            )*
        }
    };
}

/// The case's files beside the good rule file, as the service would see them.
fn with_good(mut case: Case) -> Case {
    case.files.push(("r.yaml", GOOD.to_string()));
    case
}

catalogue!(
    yaml_syntax_error,
    yaml_tab_indentation,
    unknown_rule_key,
    bad_regex,
    regex_over_the_compiled_size_limit,
    regex_over_a_configured_size_limit,
    empty_regex_alternative_matches_everything,
    empty_word_matches_everything,
    list_that_does_not_exist,
    list_over_the_entry_limit,
    pattern_over_the_length_limit,
    regex_over_the_pattern_length_limit,
    too_many_terms_in_a_rule,
    too_many_rules,
    written_on_a_words_term,
    written_split_on_a_kind_never_split,
);

/// A regex that would backtrack for ever in a backtracking engine loads
/// (the regex crate runs in time linear in the text) and scans a long
/// near-match without error.
#[test]
fn a_catastrophic_looking_regex_loads_and_scans() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "r.yaml",
            "rules:\n  - id: r.one\n    title: T\n    description: D.\n    category: other\n    severity: low\n    terms:\n      a: { regex: '(a+)+$', view: raw }\n      b: { regex: '(x|x?)*y', view: raw }\n    condition: a or b\n    tests:\n      match: [aaa]\n      no_match: ['aaa!']\n",
        )],
    );
    let mut text = "a".repeat(200_000);
    text.push('!');
    text.push_str(&"x".repeat(200_000));
    let post = format!("{{\"id\": \"1\", \"text\": \"{text}\"}}\n");
    let mut c = kestrel();
    c.arg("scan").arg("--rules").arg(dir.path());
    let out = run(c, post);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 posts"), "{stderr}");
    assert!(out.stdout.is_empty(), "no match: the text ends in x, not y");
}

/// Cases `rules check` is tested on in tests/cli.rs (duplicate ids, an
/// undefined term, an unused term) also leave a serving set untouched.
#[test]
fn hot_reload_keeps_the_old_set_on_the_cases_cli_tests_for_rules_check() {
    let dup = GOOD.replace("words: [donate]", "words: [give]");
    for case in [
        Case {
            files: vec![("s-dup.yaml", dup)],
            limits: "",
            want: "s-dup.yaml:2:9: error: rule 't.donate': id is already used at ",
        },
        Case {
            files: vec![(
                "bad.yaml",
                rule("r.one", "      a: { words: [x] }\n", "a and nope"),
            )],
            limits: "",
            want: "bad.yaml:9:22: error: rule 'r.one': condition: unknown term 'nope'",
        },
        Case {
            files: vec![(
                "bad.yaml",
                rule(
                    "r.one",
                    "      a: { words: [x] }\n      b: { words: [y] }\n",
                    "a",
                ),
            )],
            limits: "",
            want: "bad.yaml:9:7: error: rule 'r.one': term 'b' is not used",
        },
    ] {
        reload_keeps_the_old_set(&case);
    }
}
