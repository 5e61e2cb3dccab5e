//! The command line against the contract in rules.md, alerts.md and
//! service.md: rule files in temporary directories, posts on stdin or in
//! files, alerts and messages read back.

use kestrel_testkit::{kestrel, rules_dir, run, scan, tempdir};
use serde_json::Value;

fn rule_ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["rule"]["id"].as_str().unwrap().to_string())
        .collect()
}

const DONATION: &str = r#"
rules:
  - id: fin.crypto-donation-appeal
    revision: 3
    title: Donation appeal with a cryptocurrency address
    description: Asks readers to fund fighters and gives an amount.
    category: financing
    severity: high
    status: active
    tags: [crypto, donation]
    terms:
      appeal:
        words: ["donate", "support the mujahideen"]
      amount:
        regex: '\b\d{2,6}\s?(usd|usdt|dollars?)\b'
      news_context:
        words: ["according to", "police said"]
    condition: appeal and amount
    unless: news_context
    tests:
      match:
        - "Donate 500 dollars"
      no_match:
        - "Police said they donate 500 dollars"
"#;

#[test]
fn scan_prints_one_alert_per_post_and_rule_in_the_contract_shape() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let posts = concat!(
        r#"{"id": "1179", "created_at": "2015-01-06T21:07:00Z", "text": "D0NATE to $upport the mujahideen: 500 USD"}"#,
        "\n",
        r#"{"id": 2, "text": "nothing here"}"#,
        "\n"
    );
    let (alerts, stderr, code) = scan(rules.path(), posts, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["schema"], "kestrel.alert.v1");
    assert_eq!(a["post_id"], "1179");
    assert_eq!(a["post_time"], "2015-01-06T21:07:00Z");
    assert_eq!(a["rule"]["id"], "fin.crypto-donation-appeal");
    assert_eq!(a["rule"]["revision"], 3);
    assert_eq!(
        a["rule"]["title"],
        "Donation appeal with a cryptocurrency address"
    );
    assert_eq!(a["rule"]["category"], "financing");
    assert_eq!(a["rule"]["severity"], "high");
    assert_eq!(a["rule"]["tags"], serde_json::json!(["crypto", "donation"]));
    assert_eq!(a["shadow"], false);
    assert_eq!(a["source"], serde_json::json!({"file": "-", "line": 1}));
    assert!(a["ruleset"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(a["ruleset"].as_str().unwrap().len(), 7 + 64);
    assert!(a["detected_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["alert_id"].as_str().unwrap().len(), 32);
    // Evidence spans are byte offsets into the raw field: what was posted.
    let text = "D0NATE to $upport the mujahideen: 500 USD";
    let ev = a["evidence"].as_array().unwrap();
    let spans: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            let (s, e2) = (
                e["start"].as_u64().unwrap() as usize,
                e["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(e["text"].as_str().unwrap(), &text[s..e2]);
            assert_eq!(e["field"], "text");
            (
                e["term"].as_str().unwrap().to_string(),
                text[s..e2].to_string(),
            )
        })
        .collect();
    assert!(
        spans.contains(&("appeal".into(), "D0NATE".into())),
        "{spans:?}"
    );
    assert!(
        spans.contains(&("appeal".into(), "$upport the mujahideen".into())),
        "{spans:?}"
    );
    assert!(
        spans.contains(&("amount".into(), "500 USD".into())),
        "{spans:?}"
    );
    assert!(stderr.contains("2 posts"), "{stderr}");
}

#[test]
fn alert_ids_are_deterministic_and_follow_the_revision() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let post = r#"{"id": "7", "text": "donate 100 usd"}"#;
    let (a1, _, _) = scan(rules.path(), post, &[]);
    let (a2, _, _) = scan(rules.path(), post, &[]);
    assert_eq!(a1[0]["alert_id"], a2[0]["alert_id"]);
    let bumped = rules_dir(&[("fin.yaml", &DONATION.replace("revision: 3", "revision: 4"))]);
    let (a3, _, _) = scan(bumped.path(), post, &[]);
    assert_ne!(a1[0]["alert_id"], a3[0]["alert_id"]);
    assert_ne!(a1[0]["ruleset"], a3[0]["ruleset"]);
    assert_eq!(a3[0]["rule"]["revision"], 4);
}

/// A poster appending one unpaired surrogate escape (as truncated tweets
/// carry) must not dodge every rule: the post is scanned, the half pair read
/// as U+FFFD, and the evidence still points into the decoded text.
#[test]
fn an_unpaired_surrogate_escape_does_not_hide_a_post() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let (alerts, stderr, code) = scan(
        rules.path(),
        concat!(
            r#"{"id": "1", "text": "Donate 500 dollars \ud83d"}"#,
            "\n",
            r#"{"id": "2", "text": "\udc00 donate 500 usd"}"#,
            "\n"
        ),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("invalid_text"), "{stderr}");
    assert_eq!(rule_ids(&alerts).len(), 2, "{alerts:?} {stderr}");
    assert_eq!(alerts[1]["evidence"][0]["text"], "donate");
    assert_eq!(alerts[1]["evidence"][0]["start"], 4);
}

#[test]
fn unless_suppresses_a_rule_that_would_fire() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let (alerts, _, _) = scan(
        rules.path(),
        r#"{"id": "1", "text": "According to the court, he asked people to donate 500 dollars"}"#,
        &[],
    );
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn bad_lines_are_reported_with_file_and_line_and_the_run_goes_on() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let dir = tempdir();
    let f = dir.path().join("posts.jsonl");
    std::fs::write(
        &f,
        concat!(
            "{\"id\": \"1\", \"text\": \"donate 10 usd\"}\n",
            "not json\n",
            "\n",
            "[1, 2]\n",
            "{\"text\": \"no id\"}\n",
            "{\"id\": \"5\"}\n",
            "{\"id\": \"6\", \"text\": \"donate 20 usd\"}\n",
        ),
    )
    .unwrap();
    let mut c = kestrel();
    c.arg("scan").arg("--rules").arg(rules.path()).arg(&f);
    let out = run(c, "");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let name = f.display().to_string();
    assert!(
        stderr.contains(&format!("{name}:2: bad post: not_json")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:4: bad post: not_object")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:5: bad post: missing_id")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:6: bad post: no_text")),
        "{stderr}"
    );
    let alerts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[1]["source"],
        serde_json::json!({"file": name, "line": 7})
    );
    assert!(stderr.contains("4 bad lines"), "{stderr}");
}

#[test]
fn a_byte_order_mark_at_the_start_of_the_input_is_not_part_of_the_first_post() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let (alerts, stderr, code) = scan(
        rules.path(),
        "\u{FEFF}{\"id\": \"1\", \"text\": \"donate 10 usd\"}\n",
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 bad lines"), "{stderr}");
    assert_eq!(alerts.len(), 1, "{stderr}");
    assert_eq!(alerts[0]["source"]["line"], 1);
}

#[test]
fn a_broken_rule_set_stops_scan_before_it_reads_a_post() {
    let rules = rules_dir(&[
        ("good.yaml", DONATION),
        (
            "bad.yaml",
            "rules:\n  - id: r.bad\n    terms:\n      a: {words: [x]}\n    conditon: a\n",
        ),
    ]);
    let (alerts, stderr, code) = scan(rules.path(), r#"{"id": "1", "text": "donate 10 usd"}"#, &[]);
    assert_eq!(code, 1);
    assert!(alerts.is_empty());
    assert!(
        stderr.contains(
            "bad.yaml:5:5: error: rule 'r.bad': unknown key 'conditon' (did you mean 'condition'?)"
        ),
        "{stderr}"
    );
}

#[test]
fn shadow_rules_alert_with_shadow_true_and_disabled_rules_never_run() {
    let rules = rules_dir(&[(
        "r.yaml",
        r#"
rules:
  - id: r.shadow
    status: shadow
    terms: { a: { words: [hijrah] } }
  - id: r.disabled
    status: disabled
    terms: { a: { words: [hijrah] } }
"#,
    )]);
    let (alerts, stderr, _) = scan(rules.path(), r#"{"id": "1", "text": "make hijrah"}"#, &[]);
    assert_eq!(rule_ids(&alerts), vec!["r.shadow"]);
    assert_eq!(alerts[0]["shadow"], true);
    assert!(stderr.contains("0 active, 1 shadow"), "{stderr}");

    // explain tries the disabled rule too, and does not say it fired.
    let mut c = kestrel();
    c.arg("explain")
        .arg("--rules")
        .arg(rules.path())
        .arg("make hijrah");
    let stdout = String::from_utf8(run(c, "").stdout).unwrap();
    assert!(stdout.contains("FIRED r.shadow"), "{stdout}");
    assert!(
        stdout.contains("WOULD FIRE if enabled r.disabled"),
        "{stdout}"
    );
    assert!(!stdout.contains("FIRED r.disabled"), "{stdout}");
}

#[test]
fn condition_grammar_counts_lists_and_proximity() {
    let rules = rules_dir(&[(
        "r.yaml",
        r#"
rules:
  - id: r.count
    terms: { a: { words: [join] } }
    condition: '#a >= 2'
  - id: r.min-count
    terms: { a: { words: [join], min_count: 3 } }
  - id: r.two-of
    terms:
      a: { words: [join] }
      b: { words: [travel] }
      c: { words: [fight] }
    condition: 2 of (a, b, c)
  - id: r.all-of-them
    terms:
      a: { words: [join] }
      b: { words: [travel] }
    condition: all of them
  - id: r.near
    terms:
      a: { words: [join] }
      b: { words: [telegram] }
    condition: near(a, b, 3)
  - id: r.not
    terms:
      a: { words: [join] }
      b: { words: [journalist] }
    condition: a and not b
"#,
    )]);
    let ids = |text: &str| {
        let (alerts, _, _) = scan(
            rules.path(),
            &serde_json::json!({"id": "1", "text": text}).to_string(),
            &[],
        );
        let mut v = rule_ids(&alerts);
        v.sort();
        v
    };
    assert_eq!(ids("join"), vec!["r.not"]);
    assert_eq!(ids("join and join"), vec!["r.count", "r.not"]);
    assert_eq!(
        ids("join join join"),
        vec!["r.count", "r.min-count", "r.not"]
    );
    assert_eq!(
        ids("join travel"),
        vec!["r.all-of-them", "r.not", "r.two-of"]
    );
    assert_eq!(ids("fight travel"), vec!["r.two-of"]);
    assert_eq!(ids("join us on telegram"), vec!["r.near", "r.not"]);
    assert_eq!(
        ids("join the group and later talk about it all on telegram"),
        vec!["r.not"]
    );
    assert_eq!(
        ids("the journalist asked why people join"),
        Vec::<String>::new()
    );
}

#[test]
fn fields_limit_which_post_fields_a_rule_scans() {
    let rules = rules_dir(&[(
        "r.yaml",
        r#"
rules:
  - id: r.title-only
    fields: [title]
    terms: { a: { words: [hijrah] } }
  - id: r.all
    terms: { a: { words: [hijrah] } }
"#,
    )]);
    let dir = tempdir();
    let cfg = dir.path().join("k.toml");
    std::fs::write(
        &cfg,
        "[posts.text_fields]\ntext = \"/text\"\ntitle = \"/title\"\n",
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let (a, _, _) = scan(
        rules.path(),
        r#"{"id": "1", "text": "hijrah"}"#,
        &["--config", &cfg],
    );
    assert_eq!(rule_ids(&a), vec!["r.all"]);
    let (a, _, _) = scan(
        rules.path(),
        r#"{"id": "1", "title": "hijrah", "text": "x"}"#,
        &["--config", &cfg],
    );
    let mut ids = rule_ids(&a);
    ids.sort();
    assert_eq!(ids, vec!["r.all", "r.title-only"]);
    assert_eq!(a[0]["evidence"][0]["field"], "title");
}

#[test]
fn evidence_can_be_masked_or_left_out() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let dir = tempdir();
    let post = r#"{"id": "1", "text": "Donate 500 dollars"}"#;
    for (mode, want) in [("masked", Some("D****e")), ("none", None)] {
        let cfg = dir.path().join(format!("{mode}.toml"));
        std::fs::write(&cfg, format!("[alerts]\nevidence = \"{mode}\"\n")).unwrap();
        let (a, _, _) = scan(
            rules.path(),
            post,
            &["--config", &cfg.display().to_string()],
        );
        let ev = &a[0]["evidence"][0];
        assert_eq!(ev["term"], "appeal");
        assert_eq!(ev["text"].as_str(), want, "{mode}");
        assert_eq!(ev["start"], 0);
    }
}

#[test]
fn lists_resolve_relative_to_their_rule_file_and_raw_view_is_exact() {
    let rules = rules_dir(&[
        (
            "financing/sanctions.yaml",
            r#"
rules:
  - id: fin.listed
    terms:
      listed: { list: ../lists/wallets.txt, view: raw }
  - id: fin.tags
    terms:
      tag: { list: ../lists/tags.txt, whole_word: false }
"#,
        ),
        (
            "lists/wallets.txt",
            "# provenance: test\n1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2\n\n",
        ),
        ("lists/tags.txt", "joinus\n"),
    ]);
    let ids = |text: &str| {
        let (a, _, _) = scan(
            rules.path(),
            &serde_json::json!({"id": "1", "text": text}).to_string(),
            &[],
        );
        rule_ids(&a)
    };
    assert_eq!(
        ids("pay 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 now"),
        vec!["fin.listed"]
    );
    // Raw view: case matters and the entry must stand as a whole word.
    assert!(ids("pay 1bvbmseystwetqtfn5au4m4gfg7xjanvn2 now").is_empty());
    assert!(ids("pay x1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 now").is_empty());
    assert_eq!(ids("#JoinUsToday"), vec!["fin.tags"]);
}

#[test]
fn rules_check_names_file_line_col_and_rule_for_each_problem() {
    let rules = rules_dir(&[
        (
            "a.yaml",
            "rules:\n  - id: dup.one\n    terms: { a: { words: [x] } }\n  - id: r.two\n    terms:\n      a: { words: [x] }\n      unused: { words: [y] }\n    condition: a and nope\n",
        ),
        ("b.yaml", "rules:\n  - id: dup.one\n    terms: { a: { wordz: [x] } }\n"),
        ("c.yaml", "rules:\n  - id: Bad_Id\n    category: finance\n    terms: { a: { regex: '(' } }\n"),
    ]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(rules.path());
    let out = run(c, "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let a = rules.path().join("a.yaml").display().to_string();
    let b = rules.path().join("b.yaml").display().to_string();
    let cf = rules.path().join("c.yaml").display().to_string();
    for want in [
        format!("{a}:8:22: error: rule 'r.two': condition: unknown term 'nope'"),
        format!("{b}:2:9: error: rule 'dup.one': id is already used at {a}:2:9"),
        format!("{b}:3:19: error: rule 'dup.one': term 'a': unknown key 'wordz' (did you mean 'words'?)"),
        format!("{cf}:2:9: error: rule 'Bad_Id': an id is"),
        format!("{cf}:3:15: error: rule 'Bad_Id': 'category' is recruitment | financing | propaganda | threat | other, not 'finance'"),
        format!("{cf}:4:26: error: rule 'Bad_Id': term 'a': regex '(': unclosed group"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn an_unused_term_is_an_error() {
    let rules = rules_dir(&[(
        "a.yaml",
        "rules:\n  - id: r\n    terms:\n      a: { words: [x] }\n      b: { words: [y] }\n    condition: a\n",
    )]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(rules.path());
    let out = run(c, "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("a.yaml:5:7: error: rule 'r': term 'b' is not used"),
        "{err}"
    );
}

#[test]
fn rules_test_reports_each_failing_case_with_what_matched() {
    let rules = rules_dir(&[(
        "r.yaml",
        r#"
rules:
  - id: r.join
    terms:
      call: { words: [join us] }
      news: { words: [reported] }
    condition: call
    unless: news
    tests:
      match:
        - "join us"
        - "j.o.i.n us"
        - "we reported: join us"
      no_match:
        - "rejoin us"
        - { text: "join us" }
"#,
    )]);
    let mut c = kestrel();
    c.arg("rules").arg("test").arg(rules.path());
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("r.yaml:13:11: rule 'r.join': expected an alert, got none"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unless news -> holds (suppressed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r.yaml:16:11: rule 'r.join': expected no alert, got one"),
        "{stdout}"
    );
    assert!(stdout.contains("rules: 3 passed, 2 failed"), "{stdout}");
}

#[test]
fn rules_test_passes_when_every_case_holds() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let mut c = kestrel();
    c.arg("rules").arg("test").arg(rules.path());
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("rules: 2 passed, 0 failed"), "{stdout}");
}

#[test]
fn explain_shows_the_folded_text_and_raw_spans() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let mut c = kestrel();
    c.arg("explain")
        .arg("--rules")
        .arg(rules.path())
        .arg("D\u{200b}ONATE 50 Dollars");
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("folded: \"donate 50 dolars\""), "{stdout}");
    assert!(stdout.contains("[0..9] \"D\\u{200b}ONATE\""), "{stdout}");
    assert!(
        stdout.contains("FIRED fin.crypto-donation-appeal"),
        "{stdout}"
    );
}

#[test]
fn a_config_with_an_unknown_key_is_a_usage_error() {
    let rules = rules_dir(&[("fin.yaml", DONATION)]);
    let dir = tempdir();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, "[alerts]\nevidenc = \"full\"\n").unwrap();
    let (_, stderr, code) = scan(rules.path(), "", &["--config", &cfg.display().to_string()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("k.toml:2:1"), "{stderr}");
}

/// The load tool is a development binary of its own (crates/kestrel-load),
/// not a command of the installed `kestrel`.
#[test]
fn load_is_not_a_command_of_kestrel() {
    let mut cmd = kestrel();
    cmd.args(["load", "--brokers", "127.0.0.1:9"]);
    let out = run(cmd, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unrecognized subcommand 'load'"),
        "{stderr}"
    );
    let mut cmd = kestrel();
    cmd.arg("--help");
    let help = run(cmd, "");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("scan"), "{help}");
    assert!(!help.contains("load"), "{help}");
}

const LEX_EN: &str = "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [join]\n    contact:\n      words: [dm me]\n";
const LEX_FR: &str = "lexicon:\n  language: fr\n  concepts:\n    call:\n      words: [rejoignez]\n    contact:\n      words: [en mp]\n";
const GRADED: &str = "rules:\n  - id: rec.call\n    category: recruitment\n    severity: medium\n    terms:\n      call: {lexicon: call}\n      contact: {lexicon: contact}\n    condition: call\n    escalate:\n      - {when: contact, severity: high}\n    tests:\n      match:\n        - {text: \"join\", expect_severity: medium}\n        - {text: \"rejoignez, en MP\", expect_severity: high}\n      no_match:\n        - \"en mp\"\n";

#[test]
fn graded_alerts_carry_the_effective_severity_and_what_raised_it() {
    let rules = rules_dir(&[
        ("lexicons/en.yaml", LEX_EN),
        ("lexicons/fr.yaml", LEX_FR),
        ("rec.yaml", GRADED),
    ]);
    let (alerts, _, code) = scan(
        rules.path(),
        "{\"id\":\"1\",\"text\":\"join\"}\n{\"id\":\"2\",\"text\":\"Rejoignez! DM me\"}\n{\"id\":\"3\",\"text\":\"dm me\"}\n",
        &["-q"],
    );
    assert_eq!(code, 0);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[0]["rule"]["severity"], "medium");
    assert!(alerts[0].get("escalated_by").is_none(), "{}", alerts[0]);
    assert_eq!(alerts[0]["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(alerts[1]["rule"]["severity"], "high");
    assert_eq!(alerts[1]["escalated_by"], "contact");
    let terms: Vec<&str> = alerts[1]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["term"].as_str().unwrap())
        .collect();
    assert_eq!(terms, ["call", "contact"]);
}

#[test]
fn rules_test_fails_a_match_post_of_the_wrong_severity() {
    let rules = rules_dir(&[
        ("en.yaml", LEX_EN),
        ("fr.yaml", LEX_FR),
        ("rec.yaml", GRADED),
    ]);
    let mut c = kestrel();
    c.arg("rules").arg("test").arg(rules.path());
    let out = run(c, "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(
        rules.path().join("rec.yaml"),
        GRADED.replace("expect_severity: high", "expect_severity: critical"),
    )
    .unwrap();
    let mut c = kestrel();
    c.arg("rules").arg("test").arg(rules.path());
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "rec.yaml:14:11: rule 'rec.call': expected an alert of severity critical, got high"
        ),
        "{stdout}"
    );
}

#[test]
fn explain_names_the_lexicon_concept_and_the_grade() {
    let rules = rules_dir(&[
        ("en.yaml", LEX_EN),
        ("fr.yaml", LEX_FR),
        ("rec.yaml", GRADED),
    ]);
    let mut c = kestrel();
    c.arg("explain")
        .arg("--rules")
        .arg(rules.path())
        .arg("Rejoignez, dm me");
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("rec.call/call (lexicon folded) in text [0..9] \"Rejoignez\" folded \"rejoignez\" lexicon call (fr)"), "{stdout}");
    assert!(stdout.contains("lexicon contact (en)"), "{stdout}");
    assert!(
        stdout.contains("escalate contact -> high: holds"),
        "{stdout}"
    );
    assert!(
        stdout.contains("severity high (escalated from medium by 'contact')"),
        "{stdout}"
    );
}

#[test]
fn rules_check_places_an_unknown_concept_and_warns_of_an_unused_one() {
    let extra = "lexicon:\n  language: de\n  concepts:\n    call:\n      words: [beitreten]\n    unused:\n      words: [x]\n";
    let rules = rules_dir(&[
        ("en.yaml", LEX_EN),
        ("de.yaml", extra),
        ("rec.yaml", GRADED),
    ]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(rules.path());
    let out = run(c, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "de.yaml:6:5: warning: lexicon concept 'unused' (de) is not used by any rule"
        ),
        "{stdout}"
    );
    std::fs::write(
        rules.path().join("rec.yaml"),
        GRADED.replace("{lexicon: contact}", "{lexicon: kontact}"),
    )
    .unwrap();
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(rules.path());
    let out = run(c, "");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rec.yaml:7:26: error: rule 'rec.call': term 'contact': unknown lexicon concept 'kontact' (did you mean 'contact'?)"), "{stderr}");
}

const EVAL_RULES: &str = "rules:\n  - id: rec.call\n    category: recruitment\n    severity: medium\n    terms:\n      call: {words: [join]}\n      group: {words: [the dawlah]}\n      context: {words: [according to]}\n    condition: near(call, group, 3)\n    unless: context\n  - id: fin.appeal\n    category: financing\n    status: shadow\n    terms:\n      appeal: {words: [donate]}\n      wallet: {indicator: [btc]}\n    condition: appeal and wallet\n";

const LABELED: &str = concat!(
    "{\"id\":\"r1\",\"label\":\"recruitment\",\"lang\":\"en\",\"kind\":\"plain\",\"text\":\"join the dawlah\"}\n",
    "{\"id\":\"r2\",\"label\":\"recruitment\",\"lang\":\"fr\",\"kind\":\"plain\",\"text\":\"rejoignez la dawla\"}\n",
    "{\"id\":\"r3\",\"label\":\"recruitment\",\"lang\":\"en\",\"kind\":\"quoted\",\"text\":\"according to police, he said join the dawlah\"}\n",
    "{\"id\":\"f1\",\"label\":\"financing\",\"lang\":\"en\",\"text\":\"donate bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq\"}\n",
    "{\"id\":\"n1\",\"label\":\"none\",\"lang\":\"en\",\"kind\":\"news\",\"text\":\"they join the dawlah fan club\"}\n",
    "{\"id\":\"n2\",\"label\":\"none\",\"lang\":\"en\",\"kind\":\"news\",\"text\":\"nothing to see\"}\n",
);

fn eval(rules: &tempfile::TempDir, labeled: &str, extra: &[&str]) -> (String, String, i32) {
    let file = rules.path().join("labeled.jsonl");
    std::fs::write(&file, labeled).unwrap();
    let mut c = kestrel();
    c.arg("eval")
        .arg(&file)
        .arg("--rules")
        .arg(rules.path().join("rules"))
        .args(extra);
    let out = run(c, "");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap(),
    )
}

#[test]
fn eval_measures_recall_precision_and_false_alarms_with_each_case_explained() {
    let rules = rules_dir(&[("rules/r.yaml", EVAL_RULES)]);
    let (stdout, stderr, code) = eval(&rules, LABELED, &[]);
    assert_eq!(code, 0, "{stderr}");
    // Shadow alerts count unless --active-only; both figures are shown.
    assert!(
        stdout.contains("judged on active and shadow alerts"),
        "{stdout}"
    );
    let fin = stdout.lines().find(|l| l.starts_with("financing")).unwrap();
    assert!(
        fin.contains("100.0% (1/1)") && fin.contains("0.0% (0/1)"),
        "{fin}"
    );
    let rec = stdout
        .lines()
        .find(|l| l.starts_with("recruitment"))
        .unwrap();
    assert!(
        rec.contains("33.3% (1/3)") && rec.contains("50.0% (1/2)"),
        "{rec}"
    );
    let fa = stdout
        .lines()
        .find(|l| l.starts_with("false alarms"))
        .unwrap();
    assert!(fa.contains("50.0% (1/2)"), "{fa}");
    // Per language and per kind.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("fr ") && l.contains("0/1 (0)")),
        "{stdout}"
    );
    // Every miss and false alarm, with its id, kind and why.
    assert!(stdout.contains("line 2 id r2 label recruitment lang fr kind plain: no term of a recruitment rule matched"), "{stdout}");
    assert!(stdout.contains("line 3 id r3 label recruitment lang en kind quoted: rec.call: suppressed by unless (context=\"according to\")"), "{stdout}");
    assert!(stdout.contains("line 5 id n1 label none lang en kind news: rec.call fired (medium): call=\"join\" group=\"the dawlah\""), "{stdout}");
    assert!(
        stdout.contains("rec.call") && stdout.contains("precision  50.0%"),
        "{stdout}"
    );

    // JSON for CI, judged on active alerts only.
    let (json, _, code) = eval(&rules, LABELED, &["--format", "json", "--active-only"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["judged_on"], "active");
    assert_eq!(v["categories"]["financing"]["recall"]["all"], 1);
    assert_eq!(v["categories"]["financing"]["recall"]["active"], 0);
    let misses: Vec<&str> = v["misses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(misses, ["r2", "r3", "f1"]);
    assert!(v["misses"][2]["explain"]
        .as_str()
        .unwrap()
        .contains("fin.appeal: fired in shadow"));
    assert_eq!(v["false_alarm_posts"][0]["id"], "n1");
}

#[test]
fn eval_fails_a_floor_and_names_it() {
    let rules = rules_dir(&[("rules/r.yaml", EVAL_RULES)]);
    let (stdout, stderr, code) = eval(
        &rules,
        LABELED,
        &[
            "--floor",
            "recall:financing=0.85",
            "--floor",
            "recall:recruitment:en=0.5",
            "--floor",
            "false-alarm=0.05",
        ],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("PASS recall:financing=0.85 (measured 1.0000)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS recall:recruitment:en=0.5 (measured 0.5000)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL false-alarm=0.05 (measured 0.5000)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("floor(s) failed: false-alarm=0.05"),
        "{stderr}"
    );
    // With --active-only the shadow financing rule no longer counts.
    let (_, stderr, code) = eval(
        &rules,
        LABELED,
        &["--active-only", "--floor", "recall:financing=0.85"],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("floor(s) failed: recall:financing=0.85"),
        "{stderr}"
    );
    // A floor on a language with no posts fails rather than passing on nothing.
    let (_, _, code) = eval(&rules, LABELED, &["--floor", "recall:recruitment:de=0.1"]);
    assert_eq!(code, 1);
    // A floor that cannot be read is a usage error.
    let (_, stderr, code) = eval(&rules, LABELED, &["--floor", "recall:money=0.8"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown category 'money'"), "{stderr}");
}

#[test]
fn eval_names_the_line_of_a_post_without_a_label() {
    let rules = rules_dir(&[("rules/r.yaml", EVAL_RULES)]);
    let (_, stderr, code) = eval(
        &rules,
        "{\"id\":\"a\",\"label\":\"none\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"y\"}\n",
        &[],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("labeled.jsonl:2: no 'label'"), "{stderr}");
    let (_, stderr, code) = eval(
        &rules,
        "{\"id\":\"a\",\"label\":\"spam\",\"text\":\"x\"}\n",
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("labeled.jsonl:1: label 'spam' is none or one of"),
        "{stderr}"
    );
}
