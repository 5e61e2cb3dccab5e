//! The operations endpoint and the reloader in process, without a broker:
//! status codes orchestrators expect, the operator's flood reset, escaping on
//! the status page, and a rule set whose own tests fail never serving.

mod ops_support;

use std::path::Path;
use std::sync::Arc;

use kestrel::engine::{Engine, EngineOptions};
use kestrel::flood::{FloodGuardConfig, Verdict};
use kestrel::metrics::http::MetricsServer;
use kestrel::metrics::Sources;
use kestrel::pipeline::Counters;
use kestrel::reload::{Cause, Outcome, ServingRules};
use ops_support::http;

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
        http(&addr, "POST", "/flood/reset?rule=t.donate").unwrap(),
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
    assert_eq!(
        http(&addr, "POST", "/flood/reset").unwrap(),
        (200, "reset: t.donate\n".to_string())
    );
    assert_eq!(flood.admit("t.donate", 1), Verdict::Publish);
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
