//! `kestrel run` over TLS and SASL against Apache Kafka itself: one broker
//! per test with an SSL listener and a SASL_SSL listener (PLAIN and
//! SCRAM-SHA-256) beside the plaintext one the tests use for their own
//! producing and reading. kestrel reaches them through `[kafka.properties]`
//! alone; a CA that did not sign the broker's certificate or a wrong
//! password stops it at once with the reason, and the password never shows
//! in what it prints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kestrel_testkit::*;

const PARTITIONS: i32 = 3;

/// A secure broker with the three topics and the test rules.
fn setup() -> (Broker, PathBuf) {
    let broker = Broker::secure();
    let rules = broker.prepare(PARTITIONS);
    (broker, rules)
}

/// A kestrel configuration for `brokers` with `properties` as its
/// `[kafka.properties]` table.
fn config_with(
    broker: &Broker,
    brokers: &str,
    group: &str,
    rules: &Path,
    delivery: &str,
    properties: &[(&str, String)],
) -> PathBuf {
    let mut config =
        RunConfig::new(brokers, group, rules).pipeline(&format!("delivery = \"{delivery}\""));
    for (k, v) in properties {
        config = config.property(k, v);
    }
    config.write(broker.dir.path())
}

fn ca_location(path: &Path) -> String {
    path.display().to_string()
}

/// Runs kestrel on `config` until it has committed every post (`ends`),
/// stops it with SIGTERM and checks that it exited 0. Returns how long the
/// posts took and what kestrel printed.
fn run_to_completion(
    broker: &Broker,
    config: &Path,
    group: &str,
    env: &[(&str, &str)],
    ends: &EndOffsets,
) -> (Duration, String) {
    let brokers = broker.addr();
    let started = Instant::now();
    let mut k = Kestrel::start_with_env(config, group, env);
    k.wait_ready();
    wait_committed(&brokers, group, PARTITIONS, ends, Duration::from_secs(120));
    let took = started.elapsed();
    k.terminate(Duration::from_secs(30));
    (took, k.log_text())
}

/// The alerts on the topic cover `expected` and nothing else.
fn assert_alerts(broker: &Broker, expected: &BTreeSet<(String, String)>) {
    let alerts = read_topic(
        &broker.addr(),
        "alerts",
        Duration::from_secs(60),
        covers(expected),
    );
    let got: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(&got, expected);
}

#[test]
fn over_tls_kestrel_run_reaches_the_broker_with_passthrough_properties() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, rules) = setup();
    let tls = broker.tls.as_ref().unwrap();
    let n = 2_000;
    let (expected, _) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    let ends = produce_posts(&broker.addr(), "posts", 0..n);
    // Only the SSL listener is named: every connection kestrel makes (the
    // bootstrap and the broker it advertises for SSL) is TLS.
    let config = config_with(
        &broker,
        &tls.ssl_addr(),
        "tls",
        &rules,
        "at_least_once",
        &[
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", ca_location(&tls.ca)),
        ],
    );
    let (took, _) = run_to_completion(&broker, &config, "tls", &[], &ends);
    assert_alerts(&broker, &expected);
    eprintln!("over TLS: {n} posts, {} alerts in {took:?}", expected.len());
}

#[test]
fn over_sasl_ssl_kestrel_run_authenticates_with_a_password_from_the_environment() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, rules) = setup();
    let tls = broker.tls.as_ref().unwrap();
    let n = 2_000;
    let (expected, _) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    let ends = produce_posts(&broker.addr(), "posts", 0..n);
    let env = [("KESTREL_KAFKA__PROPERTIES__SASL_PASSWORD", SASL_PASSWORD)];
    // PLAIN with at-least-once, then SCRAM-SHA-256 with exactly-once
    // (transactions over SASL_SSL), each a group of its own over the same
    // posts, so each gives every alert.
    for (mechanism, delivery, group) in [
        ("PLAIN", "at_least_once", "sasl-plain"),
        ("SCRAM-SHA-256", "exactly_once", "sasl-scram"),
    ] {
        let config = config_with(
            &broker,
            &tls.sasl_addr(),
            group,
            &rules,
            delivery,
            &[
                ("security.protocol", "SASL_SSL".into()),
                ("ssl.ca.location", ca_location(&tls.ca)),
                ("sasl.mechanisms", mechanism.into()),
                ("sasl.username", SASL_USER.into()),
            ],
        );
        let (took, log) = run_to_completion(&broker, &config, group, &env, &ends);
        assert!(
            !log.contains(SASL_PASSWORD),
            "the password is in kestrel's output"
        );
        eprintln!("over SASL_SSL with {mechanism} ({delivery}): {n} posts in {took:?}");
    }
    // Both groups wrote every alert: each (post, rule) twice, no more.
    let alerts = read_topic(
        &broker.addr(),
        "alerts",
        Duration::from_secs(60),
        |m: &[rdkafka::message::OwnedMessage]| m.len() >= 2 * expected.len(),
    );
    assert_eq!(alerts.len(), 2 * expected.len());
    let got: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(got, expected);
}

/// What a kestrel run that must fail at startup said: its status, its
/// `kestrel: error:` line and the whole of its output.
fn failed_start(
    config: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String, String, Duration) {
    let started = Instant::now();
    let mut k = Kestrel::start_with_env(config, name, env);
    let status = k
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{name}: kestrel waited on instead of stopping"));
    let took = started.elapsed();
    let log = k.log_text();
    let error = log
        .lines()
        .find(|l| l.starts_with("kestrel: error:"))
        .unwrap_or_else(|| panic!("{name}: no error line:\n{log}"))
        .to_string();
    (status, error, log, took)
}

#[test]
fn a_wrong_ca_or_a_wrong_password_stops_kestrel_with_the_reason_and_no_secret() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, rules) = setup();
    let tls = broker.tls.as_ref().unwrap();
    produce_posts(&broker.addr(), "posts", 0..100);

    // A CA that did not sign the broker's certificate, in both delivery
    // modes (each waits for the broker in its own way).
    for delivery in ["at_least_once", "exactly_once"] {
        let group = format!("wrong-ca-{}", delivery.replace('_', "-"));
        let config = config_with(
            &broker,
            &tls.ssl_addr(),
            &group,
            &rules,
            delivery,
            &[
                ("security.protocol", "SSL".into()),
                ("ssl.ca.location", ca_location(&tls.other_ca)),
            ],
        );
        let (status, error, _, took) = failed_start(&config, &group, &[]);
        assert_eq!(status.code(), Some(1), "{error}");
        assert!(
            error.contains("the broker refused kestrel's TLS or SASL credentials"),
            "{error}"
        );
        assert!(error.contains("certificate verify failed"), "{error}");
        assert!(error.contains("ssl.ca.location"), "{error}");
        eprintln!("wrong CA ({delivery}): status 1 after {took:?}");
    }

    // A wrong password, for both mechanisms: the broker says no, kestrel
    // stops and neither the wrong password nor the right one is printed.
    let wrong = "not-the-password-8c41";
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let group = format!("wrong-password-{}", mechanism.to_lowercase());
        let config = config_with(
            &broker,
            &tls.sasl_addr(),
            &group,
            &rules,
            "at_least_once",
            &[
                ("security.protocol", "SASL_SSL".into()),
                ("ssl.ca.location", ca_location(&tls.ca)),
                ("sasl.mechanisms", mechanism.into()),
                ("sasl.username", SASL_USER.into()),
                ("sasl.password", wrong.into()),
            ],
        );
        let (status, error, log, took) = failed_start(&config, &group, &[]);
        assert_eq!(status.code(), Some(1), "{error}");
        assert!(
            error.contains("the broker refused kestrel's TLS or SASL credentials"),
            "{error}"
        );
        assert!(error.contains("Authentication failed"), "{error}");
        assert!(!log.contains(wrong), "the wrong password is in the output");
        assert!(
            !log.contains(SASL_PASSWORD),
            "the password is in the output"
        );
        eprintln!("wrong password ({mechanism}): status 1 after {took:?}");
    }
    // Nothing reached the alert topic.
    let alerts = read_topic(&broker.addr(), "alerts", Duration::from_secs(5), |_| true);
    assert!(alerts.is_empty());
}
