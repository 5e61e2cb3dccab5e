//! The operations endpoint and the reloader in process, without a broker:
//! status codes orchestrators expect, the operator's flood reset, escaping on
//! the status page, a rule set whose own tests fail never serving, and a
//! scan worker serving the rules a reload added.

use std::path::Path;
use std::sync::Arc;

use kestrel::alert::EvidenceMode;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::flood::{FloodGuardConfig, Verdict};
use kestrel::metrics::http::MetricsServer;
use kestrel::metrics::Sources;
use kestrel::pipeline::work::{InMessage, OutRecord, RecordKind, ScanSetup, Scanner};
use kestrel::pipeline::Counters;
use kestrel::post::{Pointer, PostSchema};
use kestrel::reload::{Cause, Outcome, ServingRules};
use kestrel_testkit::{http, http_with};

fn rules_yaml(revision: u32, title: &str, must_match: &str) -> String {
    format!(
        r#"rules:
  - id: t.donate
    revision: {revision}
    title: '{title}'
    description: Asks for money.
    category: financing
    severity: high
    terms:
      appeal: {{ words: [donate] }}
    tests:
      match: ["{must_match}"]
"#
    )
}

fn serving(dir: &Path, yaml: &str, flood: FloodGuardConfig) -> Arc<ServingRules> {
    std::fs::write(dir.join("r.yaml"), yaml).unwrap();
    let loaded = kestrel::rules::load_dir(dir).unwrap();
    let options = EngineOptions::default();
    let engine = Engine::build(Arc::new(loaded.set), &options).unwrap();
    Arc::new(ServingRules::new(engine, dir, options, flood))
}

#[test]
fn health_answers_200_readiness_waits_for_partitions_and_unknown_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let rules = serving(
        dir.path(),
        &rules_yaml(1, "Donation <script>alert(1)</script>", "donate"),
        FloodGuardConfig::default(),
    );
    let counters = Arc::new(Counters::default());
    let server = MetricsServer::start(
        "127.0.0.1:0",
        Sources {
            counters: counters.clone(),
            rules: rules.clone(),
            reset_token: Some(TOKEN.into()),
        },
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    assert_eq!(http(&addr, "GET", "/healthz").unwrap().0, 200);
    let (code, body) = http(&addr, "GET", "/readyz").unwrap();
    assert_eq!(
        (code, body.as_str()),
        (503, "not ready: no partitions assigned\n")
    );
    counters.observed.set_assigned(3);
    assert_eq!(http(&addr, "GET", "/readyz").unwrap().0, 200);
    counters.observed.set_assigned(0);
    assert_eq!(
        http(&addr, "GET", "/readyz").unwrap().0,
        503,
        "after a revoke"
    );
    assert_eq!(http(&addr, "GET", "/nope").unwrap().0, 404);
    assert_eq!(http(&addr, "POST", "/metrics").unwrap().0, 405);
    assert_eq!(
        http(&addr, "GET", "/flood/reset").unwrap().0,
        405,
        "a reset is a POST"
    );

    let (code, page) = http(&addr, "GET", "/").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("Donation &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>"));
    assert!(page.contains("not ready: no partitions assigned"));

    // The operator's reset.
    assert_eq!(
        reset(&addr, "/flood/reset?rule=t.donate"),
        (200, "no demotion to reset\n".to_string())
    );
    let flood = rules.flood();
    let ceiling = flood.config().max_alerts_per_window;
    for _ in 0..=ceiling {
        flood.admit("t.donate", 1);
    }
    assert_eq!(flood.admit("t.donate", 1), Verdict::Demoted);
    let (_, page) = http(&addr, "GET", "/").unwrap();
    assert!(page.contains("action=\"/flood/reset?rule=t.donate\""));
    assert!(
        page.contains("name=\"token\""),
        "the form asks for the token"
    );
    assert_eq!(
        reset(&addr, "/flood/reset"),
        (200, "reset: t.donate\n".to_string())
    );
    assert_eq!(flood.admit("t.donate", 1), Verdict::Publish);
}

const TOKEN: &str = "s3cret-reset-token-for-tests";

fn reset(addr: &str, path: &str) -> (u16, String) {
    let auth = format!("Bearer {TOKEN}");
    http_with(addr, "POST", path, &[("Authorization", &auth)], "").unwrap()
}

fn demote(rules: &ServingRules) {
    let flood = rules.flood();
    for _ in 0..=flood.config().max_alerts_per_window {
        flood.admit("t.donate", 1);
    }
    assert_eq!(flood.admit("t.donate", 1), Verdict::Demoted);
}

/// Without `[metrics] reset_token` the one state-changing endpoint is off:
/// nothing on the port can lift a demotion.
#[test]
fn the_flood_reset_is_off_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let rules = serving(
        dir.path(),
        &rules_yaml(1, "Donation", "donate"),
        FloodGuardConfig::default(),
    );
    demote(&rules);
    let server = MetricsServer::start(
        "127.0.0.1:0",
        Sources {
            counters: Arc::new(Counters::default()),
            rules: rules.clone(),
            reset_token: None,
        },
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let (code, body) = http(&addr, "POST", "/flood/reset").unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("reset_token"), "{body}");
    let (code, _) = reset(&addr, "/flood/reset?rule=t.donate");
    assert_eq!(code, 403, "any token is refused when none is configured");
    let (_, page) = http(&addr, "GET", "/").unwrap();
    assert!(!page.contains("<form"), "no reset button without a token");
    assert_eq!(rules.flood().demotions().len(), 1, "still demoted");
}

/// With a token configured, a reset needs it: as a bearer token, or as the
/// status page form's `token` field.
#[test]
fn the_flood_reset_requires_the_configured_token() {
    let dir = tempfile::tempdir().unwrap();
    let rules = serving(
        dir.path(),
        &rules_yaml(1, "Donation", "donate"),
        FloodGuardConfig::default(),
    );
    demote(&rules);
    let server = MetricsServer::start(
        "127.0.0.1:0",
        Sources {
            counters: Arc::new(Counters::default()),
            rules: rules.clone(),
            reset_token: Some(TOKEN.into()),
        },
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for (what, headers, body) in [
        ("no token", vec![], ""),
        ("a wrong token", vec![("Authorization", "Bearer nope")], ""),
        (
            "a token one character short",
            vec![("Authorization", "Bearer s3cret-reset-token-for-test")],
            "",
        ),
        ("not a bearer token", vec![("Authorization", TOKEN)], ""),
        ("a wrong form token", form.to_vec(), "token=nope"),
    ] {
        let (code, resp) = http_with(&addr, "POST", "/flood/reset", &headers, body).unwrap();
        assert_eq!(code, 401, "{what}: {resp}");
        assert_eq!(rules.flood().demotions().len(), 1, "{what}: still demoted");
    }
    assert_eq!(
        reset(&addr, "/flood/reset?rule=t.donate"),
        (200, "reset: t.donate\n".to_string())
    );
    assert!(rules.flood().demotions().is_empty());

    // The status page's form sends the token as a field, and goes back.
    demote(&rules);
    let (code, _) = http_with(
        &addr,
        "POST",
        "/flood/reset?rule=t.donate",
        &form,
        &format!("token={TOKEN}"),
    )
    .unwrap();
    assert_eq!(code, 303);
    assert!(rules.flood().demotions().is_empty());
}

#[test]
fn a_set_whose_tests_fail_is_refused_and_the_same_files_reload_as_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let rules = serving(
        dir.path(),
        &rules_yaml(1, "Donation", "donate"),
        FloodGuardConfig::default(),
    );
    let serving_hash = rules.current().ruleset_hash().to_string();
    assert!(matches!(
        rules.reload(Cause::Request),
        Outcome::Unchanged { .. }
    ));

    // Revision 2 would load, but its own test does not pass.
    std::fs::write(
        dir.path().join("r.yaml"),
        rules_yaml(2, "Donation", "nothing to see"),
    )
    .unwrap();
    match rules.reload(Cause::Request) {
        Outcome::Failed { problems } => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains("r.yaml:")
                    && problems[0].contains("rule 't.donate': test failed"),
                "{problems:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(rules.current().ruleset_hash(), serving_hash);
    assert_eq!(rules.current().rule_set().rules[0].revision, 1);
    let h = rules.history();
    assert_eq!((h.success, h.unchanged, h.error), (0, 1, 1));
    assert!(h.last_attempt_unix >= h.last_success_unix);

    std::fs::write(
        dir.path().join("r.yaml"),
        rules_yaml(2, "Donation", "donate"),
    )
    .unwrap();
    assert!(matches!(
        rules.reload(Cause::Request),
        Outcome::Swapped { rules: 1, .. }
    ));
    assert_eq!(rules.current().rule_set().rules[0].revision, 2);
}

#[test]
fn a_snapshot_taken_before_a_reload_keeps_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = serving(
        dir.path(),
        &rules_yaml(1, "Donation", "donate"),
        FloodGuardConfig::default(),
    );
    let before = rules.current();
    std::fs::write(
        dir.path().join("r.yaml"),
        rules_yaml(2, "Donation", "donate"),
    )
    .unwrap();
    assert!(matches!(
        rules.reload(Cause::Request),
        Outcome::Swapped { .. }
    ));
    assert_eq!(
        before.rule_set().rules[0].revision,
        1,
        "the batch's snapshot is untouched"
    );
    assert_eq!(rules.current().rule_set().rules[0].revision, 2);
    assert_ne!(before.ruleset_hash(), rules.current().ruleset_hash());
}

/// A rule set for the scanner test: a raw regex rule, and with `grown` also a
/// second raw regex, a folded regex, a list and an indicator rule.
fn grown_rules(dir: &Path, grown: bool) {
    let mut yaml = String::from(
        r#"rules:
  - id: t.phone
    title: Phone number
    description: Ten digits.
    category: other
    severity: low
    terms:
      phone: { regex: '\d{3}-\d{4}', view: raw }
    tests:
      match: ["call 555-1234"]
"#,
    );
    if grown {
        std::fs::write(dir.join("names.txt"), "# handles\nabu example\n").unwrap();
        yaml.push_str(
            r#"  - id: t.date
    title: Date
    description: Day and month.
    category: other
    severity: low
    terms:
      date: { regex: '\d{2}/\d{2}', view: raw }
    tests:
      match: ["on 12/05"]
  - id: t.amount
    title: Amount
    description: Dollars.
    category: financing
    severity: low
    terms:
      amount: { regex: '\b\d+ ?usd\b' }
    tests:
      match: ["50 usd"]
  - id: t.list
    title: Listed name
    description: A name from a list.
    category: other
    severity: low
    terms:
      name: { list: names.txt }
    tests:
      match: ["ask abu example"]
  - id: t.wallet
    title: Wallet
    description: A Bitcoin address.
    category: financing
    severity: low
    terms:
      wallet: { indicator: [btc] }
    tests:
      match: ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"]
"#,
        );
    }
    std::fs::write(dir.join("r.yaml"), yaml).unwrap();
}

/// What one scan worker publishes for `n` posts that every rule of the
/// grown set flags, as (post id, rule id) pairs.
fn alerts_of(scanner: &mut Scanner, first: usize, n: usize) -> Vec<(String, String)> {
    let topic: Arc<str> = Arc::from("posts");
    let messages: Vec<InMessage> = (first..first + n)
        .map(|i| InMessage {
            topic: topic.clone(),
            partition: 0,
            offset: i as i64,
            timestamp_ms: None,
            key: None,
            payload: Some(
                format!(
                    r#"{{"id": "p{i}", "text": "call 555-1234 on 12/05, 50 usd, ask abu example, bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}}"#
                )
                .into_bytes(),
            ),
            headers: None,
        })
        .collect();
    let mut out = Vec::new();
    scanner.process_batch(&messages, &mut |r: OutRecord<'_>| {
        assert_eq!(r.kind, RecordKind::Alert);
        let a: serde_json::Value = serde_json::from_slice(r.value.unwrap()).unwrap();
        out.push((
            a["post_id"].as_str().unwrap().to_string(),
            a["rule"]["id"].as_str().unwrap().to_string(),
        ));
    });
    out
}

/// A worker keeps its scratch across reloads: the rules a reload adds
/// (regexes of both views, a list, an indicator) must fire on the very next
/// batch, exactly as in a fresh process.
#[test]
fn rules_a_reload_adds_fire_in_a_running_scan_worker() {
    let dir = tempfile::tempdir().unwrap();
    grown_rules(dir.path(), false);
    let loaded = kestrel::rules::load_dir(dir.path()).unwrap();
    let options = EngineOptions::default();
    let engine = Engine::build(Arc::new(loaded.set), &options).unwrap();
    let rules = Arc::new(ServingRules::new(
        engine,
        dir.path(),
        options,
        FloodGuardConfig::default(),
    ));
    let setup = |rules: &Arc<ServingRules>| ScanSetup {
        engine: rules.clone(),
        schema: Arc::new(PostSchema::new(
            Pointer::parse("/id").unwrap(),
            None,
            vec![("text".into(), Pointer::parse("/text").unwrap())],
            1 << 20,
        )),
        evidence: EvidenceMode::Full,
        alert_topic: "alerts".into(),
        dead_letter_topic: "posts.dlq".into(),
        counters: Arc::new(Counters::default()),
    };
    let mut worker = Scanner::new(setup(&rules));
    let before = alerts_of(&mut worker, 0, 20);
    assert_eq!(before.len(), 20);
    assert!(before.iter().all(|(_, rule)| rule == "t.phone"));

    grown_rules(dir.path(), true);
    assert!(matches!(
        rules.reload(Cause::Request),
        Outcome::Swapped { rules: 5, .. }
    ));
    let after = alerts_of(&mut worker, 20, 20);
    let fresh = alerts_of(&mut Scanner::new(setup(&rules)), 20, 20);
    assert_eq!(fresh.len(), 20 * 5, "{fresh:?}");
    assert_eq!(after, fresh);
}
